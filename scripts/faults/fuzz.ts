// The long fuzz run: >= 10,000 seeded cases over every kind of file sftkit reads (see test/faults/fuzz-lib.ts).
//   npm run fuzz -- [--cases 850] [--seed 1] [--kind safetensors] [--first 0]
// Reproduce one case: npm run fuzz -- --kind config --first 123 --cases 1
import { parseArgs } from 'node:util';
import { FUZZ_KINDS, type FuzzKind } from '../../test/faults/fuzz-lib.js';
import { runFuzz } from '../../test/faults/fuzz-driver.js';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '850' },
    seed: { type: 'string', default: '1' },
    kind: { type: 'string', multiple: true },
    first: { type: 'string', default: '0' },
    timeout: { type: 'string', default: '60' },
  },
});
const kinds = (values.kind ?? [...FUZZ_KINDS]) as FuzzKind[];
for (const k of kinds) if (!FUZZ_KINDS.includes(k)) throw new Error(`unknown kind ${k} (${FUZZ_KINDS.join(', ')})`);
const report = await runFuzz({
  casesPerKind: Number(values.cases),
  seed: Number(values.seed),
  kinds,
  first: Number(values.first),
  timeoutMs: Number(values.timeout) * 1000,
  log: (l) => process.stdout.write(l + '\n'),
});
const total = Object.values(report.perKind).reduce((s, k) => s + k.cases, 0);
process.stdout.write(
  `\n${total} cases in ${report.seconds.toFixed(0)} s (seed ${values.seed}): ${report.failures.length} failures\n` +
    Object.entries(report.perKind)
      .map(
        ([k, v]) =>
          `  ${k.padEnd(18)} ${String(v.cases).padStart(6)} cases  ${String(v.accepted).padStart(5)} accepted  ${String(v.refused).padStart(5)} refused  ${v.failures} failures`,
      )
      .join('\n') +
    '\n',
);
process.exitCode = report.failures.length === 0 ? 0 : 1;
