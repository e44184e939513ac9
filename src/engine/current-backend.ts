// Which Backend the ops run on: the native CPU backend unless SFTKIT_BACKEND=reference or setBackend().
import type { Backend } from './backend.js';
import { cpuBackend } from './cpu-backend.js';
import { referenceBackend } from './reference-backend.js';

let current: Backend | null = null;

export function getBackend(): Backend {
  if (!current) current = process.env.SFTKIT_BACKEND === 'reference' ? referenceBackend : cpuBackend();
  return current;
}

export function setBackend(b: Backend): void {
  current = b;
}
