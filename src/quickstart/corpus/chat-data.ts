// The quickstart's conversational SFT data (examples/quickstart/chat.jsonl, eval.jsonl), written by this
// generator so it is reproducible: short questions about the facts the pretraining corpus states, greetings
// and simple instructions, some with system prompts, some multi-turn. Items listed in HELD_OUT never appear
// in the training conversations, so eval loss and the before/after prompts measure generalisation.
import { Rng } from '../../util/random.js';
import { ANIMAL_SOUNDS, CAPITALS, OPPOSITES, PETS, THING_COLOURS, TOYS, FOODS, spell } from './facts.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}
export interface Conversation {
  messages: ChatMessage[];
}

const cap = (s: string) => s[0]!.toUpperCase() + s.slice(1);
const article = (w: string) => (/^[aeiou]/.test(w) ? 'an' : 'a');
const MASS = new Set(['sky', 'sea', 'grass', 'snow', 'milk', 'coal']);
const theThing = (t: string) => (MASS.has(t) ? `the ${t}` : `${article(t)} ${t}`);

/** Facts kept out of the training conversations (they are still in the pretraining corpus). */
export const HELD_OUT = {
  capitals: new Set(['Italy', 'Kenya', 'Norway', 'Chile']),
  colours: new Set(['grape', 'sky', 'carrot']),
  animals: new Set(['duck', 'owl', 'frog']),
  opposites: new Set(['fast', 'wet']),
  sums: new Set(['4+3', '2+5', '6+1', '3+3']),
  spell: new Set(['frog', 'kite']),
};

/** The prompts the quickstart answers before and after SFT (all held out). */
export const DEMO_PROMPTS: string[] = [
  'What is the capital of Italy?',
  'What colour is a grape?',
  'What sound does a duck make?',
  'What is 4 + 3?',
  'What is the opposite of fast?',
  'How do you spell frog?',
];

const SYSTEM_PROMPTS = [
  'You are a helpful assistant.',
  'You are a friendly assistant. Answer in one short sentence.',
  'You are a kind helper for children.',
];

type QA = [question: string, answer: string];

function capitalQA(r: Rng, country: string, city: string): QA {
  return [
    r.pick([
      `What is the capital of ${country}?`,
      `Which city is the capital of ${country}?`,
      `Tell me the capital of ${country}.`,
    ]),
    `The capital of ${country} is ${city}.`,
  ];
}
function colourQA(r: Rng, thing: string, colour: string): QA {
  return [
    r.pick([`What colour is ${theThing(thing)}?`, `What is the colour of ${theThing(thing)}?`]),
    `${cap(theThing(thing))} is ${colour}.`,
  ];
}
function animalQA(r: Rng, animal: string, sound: string): QA {
  return [
    r.pick([`What sound does ${article(animal)} ${animal} make?`, `What does ${article(animal)} ${animal} say?`]),
    `${cap(article(animal))} ${animal} says ${sound}.`,
  ];
}
function sumQA(r: Rng, a: number, b: number): QA {
  return [r.pick([`What is ${a} + ${b}?`, `What is ${a} plus ${b}?`, `Add ${a} and ${b}.`]), `${a} + ${b} = ${a + b}.`];
}
function oppositeQA(r: Rng, a: string, b: string): QA {
  return [r.pick([`What is the opposite of ${a}?`, `Tell me the opposite of ${a}.`]), `The opposite of ${a} is ${b}.`];
}
function spellQA(r: Rng, w: string): QA {
  return [r.pick([`How do you spell ${w}?`, `Spell the word ${w}.`]), `The word ${w} is spelled ${spell(w)}.`];
}
function countQA(r: Rng, n: number): QA {
  return [
    r.pick([`Count to ${n}.`, `Please count from 1 to ${n}.`]),
    `${Array.from({ length: n }, (_, i) => i + 1).join(', ')}.`,
  ];
}

const SMALL_TALK: QA[] = [
  ['Hello!', 'Hello! How can I help you today?'],
  ['Hi there.', 'Hi! How can I help you today?'],
  ['Who are you?', 'I am a small helpful assistant.'],
  ['Thank you!', 'You are welcome!'],
  ['Thanks for the help.', 'You are welcome!'],
  ['Good night.', 'Good night! Sleep well.'],
  ['How are you?', 'I am fine, thank you. How can I help you?'],
  [
    'Tell me a short story.',
    'Once upon a time, there was a little cat named Tom. Tom liked to play in the park. The end.',
  ],
  ['Say yes.', 'Yes.'],
  ['Say no.', 'No.'],
];

/** Every single-turn question about one fact, split into training and held-out pools. */
type Pool = (() => QA)[][];

/** Questions grouped by kind (a kind is picked first, then an item, so big kinds do not dominate). */
function factPools(r: Rng): { train: Pool; heldOut: Pool } {
  const train: Pool = [];
  const heldOut: Pool = [];
  const kind = (items: [boolean, () => QA][]) => {
    train.push(items.filter(([held]) => !held).map(([, f]) => f));
    heldOut.push(items.filter(([held]) => held).map(([, f]) => f));
  };
  kind(CAPITALS.map(([c, city]) => [HELD_OUT.capitals.has(c), () => capitalQA(r, c, city)]));
  kind(THING_COLOURS.map(([t, col]) => [HELD_OUT.colours.has(t), () => colourQA(r, t, col)]));
  kind(ANIMAL_SOUNDS.map(([a, s]) => [HELD_OUT.animals.has(a), () => animalQA(r, a, s)]));
  kind(OPPOSITES.map(([a, b]) => [HELD_OUT.opposites.has(a), () => oppositeQA(r, a, b)]));
  const sums: [boolean, () => QA][] = [];
  for (let a = 0; a < 10; a++)
    for (let b = 0; b < 10; b++) if (a + b <= 12) sums.push([HELD_OUT.sums.has(`${a}+${b}`), () => sumQA(r, a, b)]);
  kind(sums);
  kind([...PETS, ...TOYS, ...FOODS].map((w) => [HELD_OUT.spell.has(w), () => spellQA(r, w)]));
  return { train, heldOut };
}

function conversation(r: Rng, pool: Pool, talk: QA[]): Conversation {
  const messages: ChatMessage[] = [];
  if (r.next() < 0.4) messages.push({ role: 'system', content: r.pick(SYSTEM_PROMPTS) });
  const turns = r.next() < 0.25 ? 2 + r.int(2) : 1;
  for (let t = 0; t < turns; t++) {
    const roll = r.next();
    const [q, a] =
      roll < 0.12 && talk.length > 0
        ? r.pick(talk)
        : roll < 0.18
          ? countQA(r, 3 + r.int(6))
          : r.pick(r.pick(pool.filter((k) => k.length > 0)))();
    messages.push({ role: 'user', content: q }, { role: 'assistant', content: a });
  }
  return { messages };
}

/** Training and eval conversations (deterministic). */
export function generateChatData(opts: { seed?: number; trainCount?: number; evalCount?: number } = {}): {
  train: Conversation[];
  eval: Conversation[];
} {
  const r = new Rng(opts.seed ?? 2024);
  const { train: trainPool, heldOut } = factPools(r);
  const train: Conversation[] = [];
  for (let i = 0; i < (opts.trainCount ?? 320); i++) train.push(conversation(r, trainPool, SMALL_TALK));
  const evalSet: Conversation[] = [];
  for (let i = 0; i < (opts.evalCount ?? 40); i++) evalSet.push(conversation(r, heldOut, []));
  return { train, eval: evalSet };
}

export function toJsonl(convs: Conversation[]): string {
  return convs.map((c) => JSON.stringify(c)).join('\n') + '\n';
}
