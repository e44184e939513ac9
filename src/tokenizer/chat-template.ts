// Chat templates: the model's own Jinja `chat_template`, rendered with the variables transformers
// passes (messages, add_generation_prompt, special tokens, tools, raise_exception, strftime_now).
// @huggingface/jinja lexes with trim_blocks + lstrip_blocks, as transformers' environment does.
import { Environment, Interpreter, Template } from '@huggingface/jinja';
import { UserError } from '../util/errors.js';
import { oneLine } from '../util/json.js';

/** Parse tokenizer_config's `chat_template`: a string or a list of {name, template}. */
export function parseChatTemplates(value: unknown, source: string): Map<string, string> {
  const out = new Map<string, string>();
  if (value === undefined || value === null) return out;
  if (typeof value === 'string') {
    out.set('default', value);
    return out;
  }
  if (Array.isArray(value)) {
    for (const item of value) {
      const { name, template } = (item ?? {}) as { name?: unknown; template?: unknown };
      if (typeof name !== 'string' || typeof template !== 'string')
        throw new UserError(`${source}: chat_template list entries must be {"name": string, "template": string}`);
      out.set(name, template);
    }
    return out;
  }
  throw new UserError(`${source}: chat_template must be a string or a list of {name, template}`);
}

const parsedCache = new Map<string, Template>();

function compile(source: string, where: string): Template {
  let t = parsedCache.get(source);
  if (!t) {
    try {
      t = new Template(source);
    } catch (e) {
      throw new UserError(`${where}: cannot parse the chat template: ${oneLine((e as Error).message)}`, { cause: e });
    }
    if (parsedCache.size > 32) parsedCache.clear();
    parsedCache.set(source, t);
  }
  return t;
}

class TemplateRaise extends Error {}

/** How long one rendering may run: a template that loops for ever (or for 10^8 items) is stopped with an error. */
export const TEMPLATE_TIME_LIMIT_MS = 10_000;
/** The most items one range() call may produce. */
const MAX_RANGE_ITEMS = 1_000_000;

/** An interpreter with a time budget: every few thousand evaluated nodes it checks the deadline. */
function budgetInterpreter(env: Environment): Interpreter {
  const it = new Interpreter(env);
  type Evaluate = (...args: unknown[]) => unknown;
  const self = it as unknown as { evaluate: Evaluate };
  const inner = self.evaluate.bind(it);
  const deadline = Date.now() + TEMPLATE_TIME_LIMIT_MS;
  let nodes = 0;
  self.evaluate = (...args: unknown[]) => {
    if (++nodes % 4096 === 0 && Date.now() > deadline)
      throw new Error(`rendering took longer than ${TEMPLATE_TIME_LIMIT_MS / 1000} s (a runaway loop?)`);
    return inner(...args);
  };
  return it;
}

/** Render `source` with `vars` (plus the globals every HF template may use). Errors name `where`. */
export function renderChatTemplate(source: string, vars: Record<string, unknown>, where: string): string {
  const template = compile(source, where);
  const globals: Record<string, unknown> = {
    false: false,
    true: true,
    none: null,
    False: false,
    True: true,
    None: null,
    range: pyRange,
    raise_exception: (message: unknown) => {
      throw new TemplateRaise(String(message));
    },
    strftime_now: (format: string) => strftime(new Date(), String(format)),
  };
  const env = new Environment();
  for (const [k, v] of Object.entries({ ...globals, ...vars })) env.set(k, v);
  try {
    const out = budgetInterpreter(env).run(template.parsed).value;
    if (typeof out !== 'string') throw new Error(`the template produced ${typeof out}, not text`);
    return out;
  } catch (e) {
    if (e instanceof TemplateRaise)
      throw new UserError(`${where}: the chat template refused the messages: ${oneLine(e.message)}`, { cause: e });
    throw new UserError(`${where}: chat template rendering failed: ${oneLine((e as Error).message)}`, { cause: e });
  }
}

function pyRange(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new Error('range() step must not be zero');
  if (![start, stop, step].every((v) => typeof v === 'number' && Number.isFinite(v)))
    throw new Error('range() takes finite numbers');
  if (Math.ceil((stop - start) / step) > MAX_RANGE_ITEMS)
    throw new Error(`range() of ${Math.ceil((stop - start) / step)} items is over the ${MAX_RANGE_ITEMS}-item limit`);
  const out: number[] = [];
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

/** Python's strftime for the C locale (the directives chat templates use), in local time. */
export function strftime(d: Date, format: string): string {
  const p2 = (n: number) => String(n).padStart(2, '0');
  const startOfYear = new Date(d.getFullYear(), 0, 1);
  const dayOfYear = Math.floor((d.getTime() - startOfYear.getTime()) / 86_400_000) + 1;
  return format.replace(/%([a-zA-Z%])/g, (m, c: string) => {
    switch (c) {
      case 'd':
        return p2(d.getDate());
      case 'e':
        return String(d.getDate()).padStart(2, ' ');
      case 'm':
        return p2(d.getMonth() + 1);
      case 'Y':
        return String(d.getFullYear());
      case 'y':
        return p2(d.getFullYear() % 100);
      case 'b':
        return MONTHS[d.getMonth()]!.slice(0, 3);
      case 'B':
        return MONTHS[d.getMonth()]!;
      case 'a':
        return DAYS[d.getDay()]!.slice(0, 3);
      case 'A':
        return DAYS[d.getDay()]!;
      case 'H':
        return p2(d.getHours());
      case 'I':
        return p2(d.getHours() % 12 || 12);
      case 'M':
        return p2(d.getMinutes());
      case 'S':
        return p2(d.getSeconds());
      case 'p':
        return d.getHours() < 12 ? 'AM' : 'PM';
      case 'j':
        return String(dayOfYear).padStart(3, '0');
      case '%':
        return '%';
      default:
        return m;
    }
  });
}
