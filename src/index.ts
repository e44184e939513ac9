// sftkit's public library API (what the README documents).
export { UserError } from './util/errors.js';
export type { Backend, GemmArgs } from './engine/backend.js';
