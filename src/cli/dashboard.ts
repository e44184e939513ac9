// `sftkit dashboard RUN_DIR ...`: a local web page with live training charts (metrics.jsonl as it grows), the
// dataset inspector and a chat playground answering with the base model and each run's adapter side by side,
// through the same server code as `sftkit serve` (its OpenAI routes are mounted too). Binds 127.0.0.1 only.
import { existsSync } from 'node:fs';
import { DatasetView } from '../dashboard/dataset.js';
import { registerDashboard } from '../dashboard/routes.js';
import { hasAdapter, openRuns, trainingArgs } from '../dashboard/runs.js';
import type { LossMode } from '../data/render.js';
import { loadServedModels, type ServedModel } from '../serve/models.js';
import { buildServer } from '../serve/server.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { UserError } from '../util/errors.js';
import { dtypeFlag, numberFlag, type Command } from './command.js';
import {
  describeModels,
  LIMIT_FLAGS,
  limitsFromFlags,
  listenUntilSignal,
  portFlag,
  schedulerFromFlags,
} from './serve.js';

export const command: Command = {
  name: 'dashboard',
  summary: 'Local web dashboard: live training charts, dataset inspector, base-vs-fine-tuned chat playground',
  usage:
    'sftkit dashboard RUN_DIR [RUN_DIR ...] [--model DIR] [--data FILE] [--port 8001] [--assistant-only-loss] [--max-length N]',
  positionals: true,
  flags: {
    model: { type: 'string', help: "Base model folder for the playground (default: the runs' training_args.json)" },
    data: { type: 'string', help: "Dataset for the inspector (default: the runs' training_args.json)" },
    'assistant-only-loss': {
      type: 'boolean',
      help: 'Inspector: train assistant turns only (default: the run’s setting)',
    },
    'max-length': { type: 'string', help: 'Inspector: longest example in tokens (default: the run’s, else 1024)' },
    ...LIMIT_FLAGS,
    port: { type: 'string', help: 'TCP port (0 = any free port; the address is printed)', default: '8001' },
  },
  async run(flags, positionals) {
    const cmd = 'dashboard';
    if (positionals.length === 0)
      throw new UserError('sftkit dashboard: give one or more run folders (output_dir of sftkit train)');
    const runs = openRuns(positionals);
    const args = runs.map(trainingArgs).find((a) => a !== null) ?? {};
    const modelDir = typeof flags.model === 'string' ? flags.model : typeof args.model === 'string' ? args.model : null;
    if (modelDir && !existsSync(modelDir)) throw new UserError(`sftkit dashboard: --model ${modelDir}: no such folder`);
    const dataPath =
      typeof flags.data === 'string' ? flags.data : typeof args.dataset === 'string' ? args.dataset : null;
    let models: ServedModel[] = [];
    if (modelDir) {
      models = await loadServedModels({
        modelDir,
        adapters: runs.filter(hasAdapter).map((r) => ({ name: r.name, dir: r.dir })),
        dtype: dtypeFlag(flags.dtype, cmd),
      });
    }
    let dataset: DatasetView | null = null;
    if (dataPath) {
      const tok = models[0]?.tokenizer ?? (await Tokenizer.fromDir(runs.find(hasAdapter)?.dir ?? runs[0]!.dir));
      const loss: LossMode =
        flags['assistant-only-loss'] === true || args.assistant_only_loss === true ? 'assistant-only' : 'auto';
      const fallbackLength = typeof args.max_length === 'number' ? args.max_length : 1024;
      dataset = await DatasetView.open(dataPath, tok, {
        loss,
        maxLength: numberFlag(flags, 'max-length', cmd, fallbackLength),
      });
    }
    const app = buildServer({
      models,
      scheduler: schedulerFromFlags(flags, cmd),
      limits: modelDir
        ? limitsFromFlags(flags, cmd, modelDir)
        : { maxPromptTokens: 1, maxNewTokens: 1, bodyBytes: 1 << 20 },
    });
    registerDashboard(app, { runs, dataset, models });
    process.stderr.write(
      `sftkit dashboard: runs ${runs.map((r) => r.name).join(', ')}; playground ${models.length ? describeModels(models) : 'off (no --model)'}; inspector ${dataPath ?? 'off (no --data)'}\n`,
    );
    await listenUntilSignal(app, '127.0.0.1', portFlag(flags, cmd, 8001), 'sftkit dashboard');
  },
};
