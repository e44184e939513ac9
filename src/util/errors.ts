/**
 * An error caused by the user's input (bad file, bad flag, bad config): the CLI prints its message
 * without a stack trace (the stack shows with --debug).
 */
export class UserError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UserError';
  }
}
