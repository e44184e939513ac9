// The model on real pretrained weights (../shared/models/stories260K): teacher-forced greedy predictions
// reproduce the story that llama2.c's greedy decoding from BOS is published to write.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { LlamaModel } from '../../src/model/llama.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { sharedDir } from '../helpers/shared.js';
import { useBestBackend } from './helpers.js';

useBestBackend();
const shared = sharedDir();

test(
  'stories260K: argmax of every position predicts the next token of the greedy story',
  { skip: !shared && 'needs ../shared (models/stories260K)' },
  async () => {
    const dir = join(shared!, 'models', 'stories260K');
    const tok = await Tokenizer.fromDir(dir);
    const ids = tok.encode(
      'Once upon a time, there was a little girl named Lily. She loved to play outside in the park.',
    ).ids;
    assert.equal(ids[0], 1, 'BOS first');
    for (const dtype of ['f32', 'bf16'] as const) {
      const model = LlamaModel.load(dir, { dtype });
      const logits = model.logits({ batch: 1, seq: ids.length, inputIds: Int32Array.from(ids) }).toF32();
      const V = model.config.vocabSize;
      const wrong: number[] = [];
      for (let t = 0; t + 1 < ids.length; t++) {
        let best = 0;
        for (let v = 1; v < V; v++) if (logits[t * V + v]! > logits[t * V + best]!) best = v;
        if (best !== ids[t + 1]) wrong.push(t);
      }
      assert.deepEqual(wrong, [], `${dtype}: positions whose argmax is not the story's next token`);
    }
  },
);
