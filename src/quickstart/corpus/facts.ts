// The small world the quickstart's corpus and chat data talk about. Pretraining text states these facts
// in plain sentences; the chat data asks about them, so a tiny base model already "knows" the answers and
// SFT only has to teach the conversation format and when to stop.

export const CAPITALS: ReadonlyArray<readonly [string, string]> = [
  ['France', 'Paris'],
  ['Italy', 'Rome'],
  ['Spain', 'Madrid'],
  ['Germany', 'Berlin'],
  ['Japan', 'Tokyo'],
  ['Egypt', 'Cairo'],
  ['Peru', 'Lima'],
  ['Kenya', 'Nairobi'],
  ['Canada', 'Ottawa'],
  ['China', 'Beijing'],
  ['India', 'New Delhi'],
  ['Russia', 'Moscow'],
  ['Greece', 'Athens'],
  ['Norway', 'Oslo'],
  ['Poland', 'Warsaw'],
  ['Portugal', 'Lisbon'],
  ['Austria', 'Vienna'],
  ['Ireland', 'Dublin'],
  ['Cuba', 'Havana'],
  ['Chile', 'Santiago'],
];

export const THING_COLOURS: ReadonlyArray<readonly [string, string]> = [
  ['banana', 'yellow'],
  ['sky', 'blue'],
  ['grass', 'green'],
  ['snow', 'white'],
  ['coal', 'black'],
  ['strawberry', 'red'],
  ['orange', 'orange'],
  ['lemon', 'yellow'],
  ['leaf', 'green'],
  ['cloud', 'white'],
  ['tomato', 'red'],
  ['carrot', 'orange'],
  ['plum', 'purple'],
  ['sea', 'blue'],
  ['crow', 'black'],
  ['cherry', 'red'],
  ['lime', 'green'],
  ['pumpkin', 'orange'],
  ['milk', 'white'],
  ['grape', 'purple'],
];

export const ANIMAL_SOUNDS: ReadonlyArray<readonly [string, string]> = [
  ['cow', 'moo'],
  ['dog', 'woof'],
  ['cat', 'meow'],
  ['duck', 'quack'],
  ['sheep', 'baa'],
  ['pig', 'oink'],
  ['horse', 'neigh'],
  ['owl', 'hoot'],
  ['frog', 'croak'],
  ['lion', 'roar'],
  ['mouse', 'squeak'],
  ['bee', 'buzz'],
  ['snake', 'hiss'],
  ['goat', 'bleat'],
  ['hen', 'cluck'],
];

export const OPPOSITES: ReadonlyArray<readonly [string, string]> = [
  ['hot', 'cold'],
  ['big', 'small'],
  ['up', 'down'],
  ['fast', 'slow'],
  ['happy', 'sad'],
  ['day', 'night'],
  ['old', 'new'],
  ['open', 'closed'],
  ['wet', 'dry'],
  ['light', 'dark'],
  ['full', 'empty'],
  ['early', 'late'],
  ['hard', 'soft'],
  ['loud', 'quiet'],
  ['high', 'low'],
];

export const NUMBER_WORDS = [
  'zero',
  'one',
  'two',
  'three',
  'four',
  'five',
  'six',
  'seven',
  'eight',
  'nine',
  'ten',
  'eleven',
  'twelve',
  'thirteen',
  'fourteen',
  'fifteen',
  'sixteen',
  'seventeen',
  'eighteen',
];

export const NAMES = ['Tom', 'Lily', 'Sam', 'Mia', 'Ben', 'Anna', 'Max', 'Lucy', 'Leo', 'Emma', 'Jack', 'Zoe'];
export const PETS = ['cat', 'dog', 'duck', 'frog', 'horse', 'pig', 'sheep', 'mouse', 'owl', 'hen'];
export const TOYS = ['ball', 'kite', 'car', 'doll', 'boat', 'drum', 'book', 'hat'];
export const COLOURS = ['red', 'blue', 'green', 'yellow', 'white', 'black', 'orange', 'purple'];
export const PLACES = ['park', 'garden', 'forest', 'beach', 'farm', 'river', 'hill', 'town'];
export const FEELINGS = ['happy', 'sad', 'tired', 'hungry', 'excited', 'scared'];
export const FOODS = ['apple', 'cake', 'bread', 'soup', 'banana', 'cookie', 'carrot', 'pie'];

/** The first `n` letters of a word separated by dashes ('cat' -> 'c-a-t'). */
export function spell(word: string): string {
  return word.split('').join('-');
}
