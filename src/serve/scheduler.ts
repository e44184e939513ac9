// Continuous batching for the server: requests wait in one bounded FIFO queue, join the running batch of
// their model name at a step boundary (a batched prefill, then their cache rows are stacked with the running
// ones), and every step advances all live rows of a name with one forward pass. Between steps the event loop
// runs, so new requests arrive, tokens are written out and disconnects are seen. A cancelled request's row
// leaves the batch at once.
import { BatchGenerator, type Sequence, type SequenceSpec } from '../generate/batch.js';
import { padTokenIdFor } from '../generate/load.js';
import { activate, type ServedModel } from './models.js';

export interface SchedulerLimits {
  /** Rows generating at once, over all model names. */
  maxBatch: number;
  /** Requests waiting for a row; past maxBatch + maxQueue in flight, submit() refuses. */
  maxQueue: number;
}

export interface TicketHandlers {
  /** Newly printable text of a token (maybe ''). */
  onToken(text: string): void;
  onDone(seq: Sequence): void;
  onError(e: Error): void;
}

export interface Ticket {
  readonly served: ServedModel;
  readonly spec: Omit<SequenceSpec, 'onToken'>;
  readonly handlers: TicketHandlers;
  seq: Sequence | null;
  state: 'waiting' | 'running' | 'done';
}

export class QueueFullError extends Error {}

export interface SchedulerStats {
  running: number;
  waiting: number;
  /** Forward passes of decode steps so far (each advances every live row of one model name). */
  decodeSteps: number;
  generatedTokens: number;
  /** Most rows that shared one step. */
  maxBatchSeen: number;
  /** Rows freed because their client went away. */
  cancelled: number;
}

interface Group {
  served: ServedModel;
  gen: BatchGenerator;
  tickets: Map<Sequence, Ticket>;
}

export class Scheduler {
  private readonly waiting: Ticket[] = [];
  private readonly groups = new Map<string, Group>();
  private looping = false;
  private maxBatchSeen = 0;
  private cancelledCount = 0;

  constructor(readonly limits: SchedulerLimits) {}

  get running(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.tickets.size;
    return n;
  }

  stats(): SchedulerStats {
    let decodeSteps = 0;
    let generatedTokens = 0;
    for (const g of this.groups.values()) {
      decodeSteps += g.gen.stats.decodeSteps;
      generatedTokens += g.gen.stats.generatedTokens;
    }
    return {
      running: this.running,
      waiting: this.waiting.length,
      decodeSteps,
      generatedTokens,
      maxBatchSeen: this.maxBatchSeen,
      cancelled: this.cancelledCount,
    };
  }

  /** Queue a request; throws QueueFullError when maxBatch + maxQueue requests are already in flight. */
  submit(served: ServedModel, spec: Omit<SequenceSpec, 'onToken'>, handlers: TicketHandlers): Ticket {
    if (this.running + this.waiting.length >= this.limits.maxBatch + this.limits.maxQueue)
      throw new QueueFullError(
        `the server is busy: ${this.running} requests generating and ${this.waiting.length} waiting (limit ${this.limits.maxQueue}); retry later`,
      );
    const t: Ticket = { served, spec, handlers, seq: null, state: 'waiting' };
    this.waiting.push(t);
    this.kick();
    return t;
  }

  /** The client went away: drop the request, freeing its row (or its place in the queue). */
  cancel(t: Ticket): void {
    if (t.state === 'done') return;
    if (t.state === 'waiting') {
      const i = this.waiting.indexOf(t);
      if (i >= 0) this.waiting.splice(i, 1);
    } else if (t.seq) {
      const g = this.groups.get(t.served.name)!;
      g.gen.cancel(t.seq);
      g.tickets.delete(t.seq);
    }
    t.state = 'done';
    this.cancelledCount++;
  }

  private kick(): void {
    if (this.looping) return;
    this.looping = true;
    setImmediate(() => void this.loop());
  }

  private async loop(): Promise<void> {
    try {
      while (this.waiting.length > 0 || this.running > 0) {
        this.admit();
        for (const g of this.groups.values()) {
          if (g.gen.size === 0) continue;
          this.maxBatchSeen = Math.max(this.maxBatchSeen, g.gen.size);
          this.guard(g, () => {
            activate(g.served);
            for (const seq of g.gen.step()) this.finish(g, seq);
            g.gen.retiredCache = null; // no prefix reuse across requests: let the memory go
          });
        }
        // Let the event loop run: new requests, writes to clients, disconnects.
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      this.looping = false;
    }
  }

  /** Move waiting requests into their name's batch, as many as there are free rows. */
  private admit(): void {
    const free = this.limits.maxBatch - this.running;
    if (free <= 0 || this.waiting.length === 0) return;
    const taken = this.waiting.splice(0, free);
    const byName = new Map<string, Ticket[]>();
    for (const t of taken) byName.set(t.served.name, [...(byName.get(t.served.name) ?? []), t]);
    for (const [name, tickets] of byName) {
      const served = tickets[0]!.served;
      let g = this.groups.get(name);
      if (!g) {
        g = {
          served,
          gen: new BatchGenerator(served.model, { padTokenId: padTokenIdFor(served.tokenizer) }),
          tickets: new Map(),
        };
        this.groups.set(name, g);
      }
      const group = g;
      this.guard(
        group,
        () => {
          activate(served);
          const seqs = group.gen.add(
            tickets.map((t) => ({ ...t.spec, onToken: (_id: number, text: string) => t.handlers.onToken(text) })),
          );
          seqs.forEach((seq, i) => {
            const t = tickets[i]!;
            t.seq = seq;
            t.state = 'running';
            if (seq.finish) this.done(t, seq);
            else group.tickets.set(seq, t);
          });
        },
        tickets,
      );
    }
  }

  private finish(g: Group, seq: Sequence): void {
    const t = g.tickets.get(seq);
    if (!t) return;
    g.tickets.delete(seq);
    this.done(t, seq);
  }

  private done(t: Ticket, seq: Sequence): void {
    t.state = 'done';
    t.handlers.onDone(seq);
  }

  /** A failing forward pass fails the requests it served, not the server. */
  private guard(g: Group, fn: () => void, extra: Ticket[] = []): void {
    try {
      fn();
    } catch (e) {
      const failed = [...g.tickets.values(), ...extra.filter((t) => t.state !== 'done')];
      g.tickets.clear();
      g.gen = new BatchGenerator(g.served.model, { padTokenId: padTokenIdFor(g.served.tokenizer) });
      for (const t of failed) {
        t.state = 'done';
        t.handlers.onError(e as Error);
      }
    }
  }
}
