// Incremental detokenisation of one generated sequence: what text is safe to show after each token, and where
// a stop string ends it. Text is re-decoded from all generated ids (tokens can merge across boundaries), held
// back while it ends in an incomplete UTF-8 sequence (U+FFFD) or in what may be the start of a stop string.

export type Decode = (ids: number[]) => string;

export class TextStream {
  private ids: number[] = [];
  private emitted = 0;
  /** The full text once a stop string was found (cut before it). */
  stoppedText: string | null = null;

  constructor(
    private readonly decode: Decode,
    private readonly stopStrings: readonly string[] = [],
  ) {}

  /** Add a token; returns the newly printable text (maybe ''). After a stop string, `stoppedText` is set. */
  push(id: number): string {
    this.ids.push(id);
    const full = this.decode(this.ids);
    let cut = -1;
    for (const s of this.stopStrings) {
      const at = s.length ? full.indexOf(s) : -1;
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.stoppedText = full.slice(0, cut);
      return this.take(this.stoppedText, this.stoppedText.length);
    }
    let safe = full.length;
    while (safe > 0 && full.charCodeAt(safe - 1) === 0xfffd) safe--;
    safe -= this.stopPrefixLength(full.slice(0, safe));
    return this.take(full, safe);
  }

  /** Everything not shown yet (call when the sequence ends without a stop string). */
  flush(): string {
    const full = this.text();
    return this.take(full, full.length);
  }

  /** The sequence's text so far (cut at a stop string when one was found). */
  text(): string {
    return this.stoppedText ?? this.decode(this.ids);
  }

  private take(full: string, upTo: number): string {
    if (upTo <= this.emitted) return '';
    const out = full.slice(this.emitted, upTo);
    this.emitted = upTo;
    return out;
  }

  /** Length of the longest suffix of `text` that is a proper prefix of a stop string. */
  private stopPrefixLength(text: string): number {
    let best = 0;
    for (const s of this.stopStrings) {
      for (let n = Math.min(s.length - 1, text.length); n > best; n--) {
        if (text.endsWith(s.slice(0, n))) {
          best = n;
          break;
        }
      }
    }
    return best;
  }
}
