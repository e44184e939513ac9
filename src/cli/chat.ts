// `sftkit chat`: an interactive multi-turn conversation in the terminal. The history is re-rendered with the
// chat template every turn; /reset clears it, /system TEXT sets the system message, Ctrl-D (end of input) quits.
// The KV cache of the conversation so far is kept between turns, so each turn only prefills what is new.
// Works with piped stdin too (one user message per line), which is how it is tested.
import { createInterface } from 'node:readline';
import { generate, PrefixCache } from '../generate/generate.js';
import { encodeChat } from '../generate/load.js';
import type { ChatMessage } from '../tokenizer/tokenizer.js';
import type { Command } from './command.js';
import { generateOptions, loadFromFlags, MODEL_FLAGS, SAMPLING_FLAGS, settingsFromFlags } from './generate.js';

const HELP = 'commands: /reset (clear the history), /system TEXT (set the system message), /help; Ctrl-D quits';

export const command: Command = {
  name: 'chat',
  summary: 'Chat with a model (+ LoRA adapter) in the terminal',
  usage:
    'sftkit chat --model DIR [--adapter DIR] [--system TEXT] [--temperature T] [--top-p P] [--max-new-tokens N] ...',
  flags: {
    ...MODEL_FLAGS,
    system: { type: 'string', help: 'System message for the conversation' },
    ...SAMPLING_FLAGS,
  },
  async run(flags) {
    const cmd = 'chat';
    const loaded = await loadFromFlags(flags, cmd);
    const settings = settingsFromFlags(flags, cmd, loaded.defaults);
    const tok = loaded.tokenizer;
    const interactive = process.stdin.isTTY === true;
    let system: string | null = typeof flags.system === 'string' ? flags.system : null;
    let history: ChatMessage[] = [];
    let turn = 0;
    const prefix = new PrefixCache();
    const say = (s: string) => process.stderr.write(s);
    say(
      `sftkit chat (${loaded.dtype}${typeof flags.adapter === 'string' ? ', adapter ' + flags.adapter : ''}). ${HELP}\n`,
    );

    const rl = createInterface({ input: process.stdin, terminal: interactive });
    const prompt = () => interactive && process.stdout.write('\n> ');
    prompt();
    for await (const raw of rl) {
      const line = raw.trim();
      if (line === '') {
        prompt();
        continue;
      }
      if (line === '/reset') {
        history = [];
        prefix.clear();
        say('(history cleared)\n');
      } else if (line === '/system' || line.startsWith('/system ')) {
        system = line.slice('/system'.length).trim() || null;
        say(system ? `(system message set)\n` : '(system message removed)\n');
      } else if (line === '/help') {
        say(HELP + '\n');
      } else {
        history.push({ role: 'user', content: line });
        const messages: ChatMessage[] = [...(system ? [{ role: 'system', content: system }] : []), ...history];
        const ids = encodeChat(tok, messages);
        const opts = generateOptions(loaded, { ...settings, seed: settings.seed + turn++ });
        opts.onToken = (e) => e.text && process.stdout.write(e.text);
        opts.prefixCache = prefix;
        const { generations } = generate(loaded.model, [ids], opts);
        const g = generations[0]!;
        process.stdout.write('\n');
        if (g.finishReason === 'length') say(`(stopped at --max-new-tokens ${settings.maxNewTokens})\n`);
        history.push({ role: 'assistant', content: g.text });
      }
      prompt();
    }
    if (interactive) process.stdout.write('\n');
  },
};
