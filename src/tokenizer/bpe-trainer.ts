// A small deterministic byte-level BPE trainer (classic Sennrich et al. merges over word counts),
// for the demo tokenizer of `sftkit create-model --tokenizer bpe`. Pre-tokenisation is the
// `tokenizers` ByteLevel pre-tokenizer itself, so trained merges fit the encoder exactly.
import { byteLevelPreTokenizer } from 'tokenizers';

/**
 * Learn up to `vocabSize - 259` merges (259 = 3 special tokens + 256 bytes) from `text`: repeatedly
 * merge the most frequent adjacent pair (ties: the smaller pair in string order). Pair counts are
 * kept incrementally: a merge only recounts the words that contain the merged pair.
 */
export function trainByteLevelBpe(text: string, vocabSize: number): [string, string][] {
  const pre = byteLevelPreTokenizer(false, true);
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    for (const [piece] of pre.preTokenizeString(line)) counts.set(piece, (counts.get(piece) ?? 0) + 1);
  }
  // Symbols as small integers; pair keys as a * 2^20 + b.
  const symbols: string[] = [];
  const symbolId = new Map<string, number>();
  const intern = (s: string): number => {
    let id = symbolId.get(s);
    if (id === undefined) {
      id = symbols.length;
      symbols.push(s);
      symbolId.set(s, id);
    }
    return id;
  };
  const SHIFT = 2 ** 20;
  const words = [...counts].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([w, n]) => ({ ids: [...w].map(intern), n }));
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addPairs = (wi: number, sign: 1 | -1) => {
    const { ids, n } = words[wi]!;
    for (let i = 0; i + 1 < ids.length; i++) {
      const key = ids[i]! * SHIFT + ids[i + 1]!;
      pairCount.set(key, (pairCount.get(key) ?? 0) + sign * n);
      if (sign > 0) {
        let set = pairWords.get(key);
        if (!set) pairWords.set(key, (set = new Set()));
        set.add(wi);
      }
    }
  };
  for (let wi = 0; wi < words.length; wi++) addPairs(wi, 1);

  const merges: [string, string][] = [];
  const budget = vocabSize - 259;
  while (merges.length < budget) {
    let best = -1;
    let bestCount = 2; // a pair must occur at least twice to be worth a token
    let bestText = '';
    for (const [key, c] of pairCount) {
      if (c < bestCount) continue;
      const keyText = symbols[Math.floor(key / SHIFT)]! + '\u0000' + symbols[key % SHIFT]!;
      if (c > bestCount || best === -1 || keyText < bestText) {
        best = key;
        bestCount = c;
        bestText = keyText;
      }
    }
    if (best === -1) break;
    const a = Math.floor(best / SHIFT);
    const b = best % SHIFT;
    const merged = intern(symbols[a]! + symbols[b]!);
    merges.push([symbols[a]!, symbols[b]!]);
    for (const wi of pairWords.get(best) ?? []) {
      addPairs(wi, -1);
      const ids = words[wi]!.ids;
      const out: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        if (i + 1 < ids.length && ids[i] === a && ids[i + 1] === b) {
          out.push(merged);
          i++;
        } else out.push(ids[i]!);
      }
      words[wi]!.ids = out;
      addPairs(wi, 1);
    }
    pairWords.delete(best);
    for (const [key, c] of pairCount) if (c <= 0) pairCount.delete(key);
  }
  return merges;
}

/** A short original English text (about tiny models and chat) to train the demo tokenizer on. */
export const BUILTIN_ENGLISH_TEXT = `
The small model reads a question, thinks about the words, and writes a short answer.
A user asks the assistant a question, and the assistant answers in a clear and helpful way.
When the answer is not known, the assistant says so and does not make things up.
Fine-tuning teaches a model to follow instructions by showing it many examples of good answers.
Each example has a prompt and a response; the model learns to predict the response one token at a time.
The loss is computed only on the tokens of the answer, so the model does not learn to repeat the question.
Training runs for a few steps at first, and the loss should go down as the model learns.
If the loss does not go down, check the learning rate, the data, and the masks.
A tokenizer turns text into numbers and numbers back into text.
Every word is split into pieces, and common pieces become single tokens.
Rare words are spelled out byte by byte, so any text can be written down.
The weather today is sunny and warm, with a light wind from the west.
Tomorrow it may rain in the morning, and the afternoon will be cool and cloudy.
She walked to the market to buy apples, bread, milk, and a few fresh flowers.
He opened the window, looked at the garden, and smiled at the birds in the tree.
The children played in the park until the sun went down and the lights came on.
Once upon a time there was a little dog who loved to run and play with his friends.
They went to the river, found a boat, and sailed along the water all day long.
What is the capital of France? The capital of France is Paris.
How many days are in a week? There are seven days in a week.
Please write a short poem about the sea. The sea is wide, the sea is blue, it sings at night and in the morning too.
Translate the sentence into French: Good morning, how are you? Bonjour, comment allez-vous ?
Summarize the text in one sentence: the story is about a girl who finds a lost cat and brings it home.
Give three tips for staying healthy: drink water, sleep well, and walk every day.
Explain why the sky is blue: sunlight is scattered by the air, and blue light is scattered the most.
Write a function that adds two numbers: function add(a, b) { return a + b; }
List the first five prime numbers: 2, 3, 5, 7, 11.
The meeting starts at nine in the morning and ends at noon, after a short break.
Thank you for your help! You are welcome, I am happy to help with anything else.
The model was trained on a computer with two cores, and it finished in a few minutes.
Good data matters more than a big model: clean, correct, and varied examples teach the most.
An assistant should be honest, helpful, and kind, and it should answer the question that was asked.
Numbers like 10, 20, 100, and 2024 appear in many texts, as do dates such as Monday, June 3.
The quick brown fox jumps over the lazy dog, and the lazy dog does not mind at all.
In the end, the little model learned to say hello, to answer questions, and to stop when it was done.
The teacher asked the students to read the story again and to write down three questions about it.
A good answer starts with the main point, gives a reason, and ends with a short example.
The train leaves the station at ten o'clock, so we should be there a little before that.
Our team finished the project on time because everyone knew what they had to do.
The recipe needs two cups of flour, one egg, a spoon of sugar, and a pinch of salt.
Mix the flour and the sugar, add the egg, and stir until the dough is smooth.
The library is open every day except Sunday, from eight in the morning until six in the evening.
Remember to save your work often, and keep a copy of important files in a safe place.
The planet Mars is smaller than the Earth, and it looks red because of the dust on its surface.
Water boils at one hundred degrees and freezes at zero degrees on the Celsius scale.
The story ended happily: the friends found their way home, and everyone had dinner together.
When you learn something new, try to explain it to someone else in simple words.
The computer program reads a file, counts the words, and prints the most common ones.
Questions are welcome at any time, and there is no such thing as a silly question.
The garden has roses, tulips, and a small tree with sweet green apples in the summer.
Please answer the following question with yes or no: is the ocean salty? Yes.
Please answer the following question with a number: how many legs does a spider have? Eight.
Write a friendly email to a colleague to thank them for their help with the report.
Dear Sam, thank you for helping me with the report this week. I could not have finished it without you.
The assistant read the instructions carefully, checked the facts, and wrote a clear reply.
Training data should cover many kinds of tasks: questions, stories, lists, code, and conversations.
Short sentences are easy to read, and simple words make the meaning clear to everyone.
The cat sat on the warm window and watched the rain fall on the quiet street below.
At the end of the day, the little robot turned off its lights and went to sleep.
`;
