// Synthetic chat data for the data-path benchmarks: seeded two-turn conversations of pseudo-words (about 60
// tokens each with the minimind2 tokenizer), the same rows on every run.
import { SeededRandom } from '../util/random.js';

export interface ChatMessage {
  role: string;
  content: string;
}

const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'to', 'vi', 'el', 'an', 'or', 'is', 'um', 'pe', 'da'];

/** `n` conversations (a user question of 6-14 words, an answer of 10-24), one at a time. */
export function* syntheticConversations(n: number, seed = 7): Generator<ChatMessage[]> {
  const rnd = new SeededRandom(seed);
  const int = (k: number) => Math.floor(rnd.next() * k);
  const word = () => {
    let w = '';
    for (let s = 1 + int(3); s > 0; s--) w += SYLLABLES[int(SYLLABLES.length)]!;
    return w;
  };
  const sentence = (min: number, max: number) => {
    const words: string[] = [];
    for (let k = min + int(max - min + 1); k > 0; k--) words.push(word());
    return words.join(' ') + '.';
  };
  for (let i = 0; i < n; i++)
    yield [
      { role: 'user', content: sentence(6, 14) },
      { role: 'assistant', content: sentence(10, 24) },
    ];
}
