import assert from 'node:assert/strict';
import { test } from 'node:test';
import { editDistance, suggestName } from '../../src/util/suggest.js';

test('edit distance counts insertions, deletions, substitutions and adjacent swaps', () => {
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('ab', 'ba'), 1);
  assert.equal(editDistance('', 'abc'), 3);
  assert.equal(suggestName('OUTPUT_DIR', ['output_dir', 'model']), 'output_dir');
  assert.equal(suggestName('qqqqq', ['output_dir']), null);
});
