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
  /** The reasoning (chain of thought) before the answer; `thinking` is the name some templates read. */
  reasoning_content?: string;
  thinking?: string;
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
  /** Named templates (tokenizer_config's list form), when the tokenizer has them. */
  readonly chatTemplates?: ReadonlyMap<string, string>;
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

/**
 * Where a record came from: file and 1-based line (for .json arrays, the line its item starts on). Rows of
 * columnar files (Parquet, Arrow) also carry their 0-based row index (`ds[row]` in `datasets`) and row group;
 * their `line` is row + 1.
 */
export interface SourceRef {
  file: string;
  line: number;
  row?: number;
  rowGroup?: number;
}

export function formatRef(ref: SourceRef): string {
  if (ref.row === undefined) return `${ref.file}:${ref.line}`;
  return `${ref.file}: ${ref.rowGroup !== undefined ? `row group ${ref.rowGroup}, ` : ''}row ${ref.row}`;
}

/**
 * Several sources in one line, grouped by file in first-seen order: `a.jsonl lines 3, 17; b.parquet rows 4, 9`
 * (columnar rows by their 0-based row index); past `max` places, `and N more`.
 */
export function formatRefs(refs: readonly SourceRef[], max = 24): string {
  const byFile = new Map<string, { rows: boolean; places: number[] }>();
  let shown = 0;
  for (const r of refs) {
    if (shown >= max) break;
    const g = byFile.get(r.file) ?? { rows: r.row !== undefined, places: [] };
    byFile.set(r.file, g);
    g.places.push(r.row ?? r.line);
    shown++;
  }
  const parts = [...byFile].map(
    ([file, g]) => `${file} ${g.rows ? 'row' : 'line'}${g.places.length > 1 ? 's' : ''} ${g.places.join(', ')}`,
  );
  return parts.join('; ') + (refs.length > shown ? `; and ${refs.length - shown} more` : '');
}

/** A validated record in one of the three shapes the pipeline trains on. */
export type SftRecord =
  | {
      kind: 'conversation';
      messages: ChatMessage[];
      tools?: unknown[];
      /** Train assistant turns from this message index on (earlier ones are context); default 0. */
      trainFrom?: number;
      source: SourceRef;
    }
  | { kind: 'prompt-completion'; prompt: string | ChatMessage[]; completion: string | ChatMessage[]; source: SourceRef }
  | { kind: 'text'; text: string; source: SourceRef };

/**
 * One tokenised example: ids plus the loss mask as data. Read-only: examples of a prepared dataset are views into
 * shared storage (example-slab.ts).
 */
export interface PreparedExample {
  readonly inputIds: Int32Array;
  /** 1 where the token is trained (assistant / completion / all), 0 elsewhere; same length as inputIds. */
  readonly assistantMask: Uint8Array;
  readonly source: SourceRef;
  /** Number of 1s in assistantMask. */
  readonly numTrained: number;
  /** True when the example was cut to maxLength. */
  readonly truncated: boolean;
}
