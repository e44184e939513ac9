// Types shared by the data pipeline: the tokenizer surface it needs, normalised records, prepared examples.

/**
 * A chat message as the chat template sees it. A type alias (not an interface) so that it is assignable to the
 * tokenizer's index-signature message type, and any `{ role, content }` interface is assignable to it.
 */
export type ChatMessage = {
  role: string;
  content: string | null;
  tool_calls?: unknown[];
  tool_call_id?: string;
  name?: string;
  reasoning_content?: string;
};

/** An encoding with UTF-16 character offsets into the encoded string. */
export interface TokenEncoding {
  ids: number[];
  offsets: [number, number][];
  specialMask: boolean[];
}

/**
 * What the data pipeline needs from a tokenizer: a structural subset of src/tokenizer's `Tokenizer`,
 * so data code is testable with any object of this shape.
 */
export interface DataTokenizer {
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  readonly padToken: string | null;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly padTokenId: number | null;
  readonly addBosToken: boolean;
  readonly chatTemplate: string | null;
  readonly stopTokenIds: number[];
  encode(text: string, opts?: { addSpecialTokens?: boolean }): TokenEncoding;
  decode(ids: number[], opts?: { skipSpecialTokens?: boolean }): string;
  tokenToId(token: string): number | null;
  idToToken(id: number): string | null;
  applyChatTemplate(
    messages: ChatMessage[],
    opts?: { addGenerationPrompt?: boolean; tools?: unknown[]; templateName?: string; extra?: Record<string, unknown> },
  ): string;
}

/** Where a record came from: file and 1-based line (for .json arrays, the line its item starts on). */
export interface SourceRef {
  file: string;
  line: number;
}

export function formatRef(ref: SourceRef): string {
  return `${ref.file}:${ref.line}`;
}

/** A validated record in one of the three shapes the pipeline trains on. */
export type SftRecord =
  | { kind: 'conversation'; messages: ChatMessage[]; tools?: unknown[]; source: SourceRef }
  | { kind: 'prompt-completion'; prompt: string | ChatMessage[]; completion: string | ChatMessage[]; source: SourceRef }
  | { kind: 'text'; text: string; source: SourceRef };

/** One tokenised example: ids plus the loss mask as data (1 = this token is a training target). */
export interface PreparedExample {
  inputIds: Int32Array;
  /** 1 where the token is trained (assistant / completion / all), 0 elsewhere; same length as inputIds. */
  assistantMask: Uint8Array;
  source: SourceRef;
  /** Number of 1s in assistantMask. */
  numTrained: number;
  /** True when the example was cut to maxLength. */
  truncated: boolean;
}
