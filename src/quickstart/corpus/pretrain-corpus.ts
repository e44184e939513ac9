// A small English pretraining corpus, generated (deterministically) rather than shipped: simple stories,
// plain facts about the quickstart's little world, arithmetic, and some question/answer prose as web text
// has. No chat markup: the base model never sees <|im_start|> / <|im_end|>, like a real base model.
import { Rng } from '../../util/random.js';
import {
  ANIMAL_SOUNDS,
  CAPITALS,
  COLOURS,
  FEELINGS,
  FOODS,
  NAMES,
  NUMBER_WORDS,
  OPPOSITES,
  PETS,
  PLACES,
  THING_COLOURS,
  TOYS,
  spell,
} from './facts.js';

const cap = (s: string) => s[0]!.toUpperCase() + s.slice(1);
const article = (w: string) => (/^[aeiou]/.test(w) ? 'an' : 'a');

function story(r: Rng): string {
  const name = r.pick(NAMES);
  const pet = r.pick(PETS);
  const toy = r.pick(TOYS);
  const colour = r.pick(COLOURS);
  const place = r.pick(PLACES);
  const food = r.pick(FOODS);
  const friend = r.pick(NAMES.filter((n) => n !== name));
  const sound = ANIMAL_SOUNDS.find(([a]) => a === pet)?.[1];
  const lines = [
    r.pick([
      `Once upon a time, there was a little ${pet} named ${name}.`,
      `${name} was a small ${pet} who lived near the ${place}.`,
      `One day, ${name} the ${pet} woke up early.`,
    ]),
    `${name} had ${article(colour)} ${colour} ${toy}.`,
    r.pick([
      `Every day, ${name} went to the ${place} to play.`,
      `${name} liked to play with the ${toy} in the ${place}.`,
      `${name} took the ${toy} to the ${place}.`,
    ]),
    sound ? `When ${name} was ${r.pick(FEELINGS)}, ${name} said "${sound}".` : `${name} felt ${r.pick(FEELINGS)}.`,
    r.pick([
      `Then ${name} met ${friend}.`,
      `At the ${place}, ${name} saw ${friend}.`,
      `Soon ${friend} came to play too.`,
    ]),
    r.pick([
      `They shared ${article(food)} ${food} and laughed.`,
      `${friend} said, "Can I play with your ${toy}?"`,
      `They played with the ${toy} all day.`,
    ]),
    r.pick([
      `${name} said, "Yes, let us play together!"`,
      `${name} was kind and shared the ${toy}.`,
      `It started to rain, so they went home.`,
    ]),
    r.pick([`At night, ${name} was tired and went to sleep.`, `The end.`, `${name} and ${friend} were good friends.`]),
  ];
  return lines.join(' ');
}

function capitalFacts(r: Rng): string {
  const picks = r.shuffle([...CAPITALS]).slice(0, 4);
  return picks
    .map(([country, city]) =>
      r.pick([
        `The capital of ${country} is ${city}.`,
        `${city} is the capital of ${country}.`,
        `${city} is the capital city of ${country}. Many people live in ${city}.`,
      ]),
    )
    .join(' ');
}

const MASS = new Set(['sky', 'sea', 'grass', 'snow', 'milk', 'coal']);
const theThing = (t: string) => (MASS.has(t) ? `the ${t}` : `${article(t)} ${t}`);

function colourFacts(r: Rng): string {
  const picks = r.shuffle([...THING_COLOURS]).slice(0, 5);
  return picks
    .map(([thing, colour]) =>
      r.pick([
        `${cap(theThing(thing))} is ${colour}.`,
        `The colour of ${theThing(thing)} is ${colour}.`,
        `${cap(theThing(thing))} is ${colour}, not ${r.pick(COLOURS.filter((c) => c !== colour))}.`,
      ]),
    )
    .join(' ');
}

function animalFacts(r: Rng): string {
  const picks = r.shuffle([...ANIMAL_SOUNDS]).slice(0, 4);
  return picks
    .map(([animal, sound]) =>
      r.pick([
        `${cap(article(animal))} ${animal} says ${sound}.`,
        `The ${animal} says "${sound}".`,
        `${cap(article(animal))} ${animal} makes the sound ${sound}.`,
      ]),
    )
    .join(' ');
}

function arithmetic(r: Rng): string {
  const out: string[] = [];
  for (let i = 0; i < 5; i++) {
    const a = r.int(10);
    const b = r.int(10);
    out.push(
      r.pick([
        `${a} + ${b} = ${a + b}.`,
        `${cap(NUMBER_WORDS[a]!)} plus ${NUMBER_WORDS[b]} is ${NUMBER_WORDS[a + b]}.`,
        `If you have ${a} apple${a === 1 ? '' : 's'} and get ${b} more, you have ${a + b} apple${a + b === 1 ? '' : 's'}.`,
        a >= b ? `${a} - ${b} = ${a - b}.` : `${b} - ${a} = ${b - a}.`,
      ]),
    );
  }
  return out.join(' ');
}

function wordFacts(r: Rng): string {
  const out: string[] = [];
  for (let i = 0; i < 4; i++) {
    if (r.next() < 0.5) {
      const [a, b] = r.pick(OPPOSITES);
      out.push(r.pick([`The opposite of ${a} is ${b}.`, `${cap(a)} and ${b} are opposites.`]));
    } else {
      const w = r.pick([...PETS, ...TOYS, ...FOODS]);
      out.push(`The word ${w} is spelled ${spell(w)}.`);
    }
  }
  const n = 3 + r.int(6);
  out.push(`Counting to ${n}: ${Array.from({ length: n }, (_, i) => i + 1).join(', ')}.`);
  return out.join(' ');
}

/** Question/answer prose as found on the web (no chat markup). */
function faq(r: Rng): string {
  const out: string[] = [];
  for (let i = 0; i < 3; i++) {
    const kind = r.int(6);
    if (kind === 0) {
      const [c, city] = r.pick(CAPITALS);
      out.push(`Q: What is the capital of ${c}? A: The capital of ${c} is ${city}.`);
    } else if (kind === 1) {
      const [thing, colour] = r.pick(THING_COLOURS);
      out.push(`Q: What colour is ${theThing(thing)}? A: ${cap(theThing(thing))} is ${colour}.`);
    } else if (kind === 2) {
      const [animal, sound] = r.pick(ANIMAL_SOUNDS);
      out.push(
        `Q: What sound does ${article(animal)} ${animal} make? A: ${cap(article(animal))} ${animal} says ${sound}.`,
      );
    } else if (kind === 3) {
      const a = r.int(10);
      const b = r.int(10);
      out.push(`Q: What is ${a} + ${b}? A: ${a} + ${b} = ${a + b}.`);
    } else if (kind === 4) {
      const [a, b] = r.pick(OPPOSITES);
      out.push(`Q: What is the opposite of ${a}? A: The opposite of ${a} is ${b}.`);
    } else {
      const w = r.pick([...PETS, ...TOYS, ...FOODS]);
      out.push(`Q: How do you spell ${w}? A: The word ${w} is spelled ${spell(w)}.`);
    }
  }
  return out.join(' ');
}

/** Everyday phrases: greetings, thanks, helpers answering questions (the words chat prompts use). */
function phrases(r: Rng): string {
  const name = r.pick(NAMES);
  const friend = r.pick(NAMES.filter((n) => n !== name));
  const lines = [
    r.pick([
      `"Hello!" said ${name}. "How are you today?"`,
      `"Hi there," said ${name}.`,
      `${name} said hello to ${friend}.`,
    ]),
    r.pick([
      `"I am fine, thank you," said ${friend}.`,
      `"Good morning!" said ${friend}.`,
      `${friend} smiled and said hi.`,
    ]),
    r.pick([
      `${name} is a kind and helpful friend.`,
      `A good helper answers every question in one short sentence.`,
      `The teacher asked the children to count to ${3 + r.int(7)}.`,
      `${name} asked, "Can you help me?" and ${friend} said, "Yes, I can help you."`,
    ]),
    r.pick([
      `"Thank you!" said ${name}. "You are welcome!" said ${friend}.`,
      `"Thanks for the help," said ${name}.`,
      `"Good night," said ${name}. "Sleep well."`,
      `Please tell me a short story, said ${name}.`,
    ]),
    r.pick([
      `A friendly assistant is kind to everyone.`,
      `Who are you? I am ${name}.`,
      `${name} said yes. ${friend} said no.`,
      `Tell me the answer, please.`,
    ]),
  ];
  return lines.join(' ');
}

const SECTIONS = [story, capitalFacts, colourFacts, animalFacts, arithmetic, wordFacts, faq, faq, faq, phrases];

/** Documents of the corpus, about `targetBytes` in total (deterministic for a seed). */
export function generatePretrainCorpus(opts: { seed?: number; targetBytes?: number } = {}): string[] {
  const r = new Rng(opts.seed ?? 1234);
  const target = opts.targetBytes ?? 300_000;
  const docs: string[] = [];
  let bytes = 0;
  while (bytes < target) {
    const parts: string[] = [];
    const count = 2 + r.int(3);
    for (let i = 0; i < count; i++) parts.push(r.pick(SECTIONS)(r));
    const doc = parts.join('\n');
    docs.push(doc);
    bytes += Buffer.byteLength(doc) + 1;
  }
  return docs;
}
