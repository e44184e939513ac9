import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as sftkit from '../src/index.js';

test('the public API exports what the README documents', () => {
  for (const name of [
    'SFTTrainer',
    'resolveConfig',
    'runQuickstart',
    'LlamaModel',
    'loadAdapter',
    'saveAdapter',
    'Tokenizer',
    'loadDataset',
    'prepareRecords',
    'batches',
    'SafetensorsFile',
    'writeSafetensors',
    'exportGguf',
    'mergeAdapter',
    'generate',
    'loadForGeneration',
    'BatchGenerator',
    'buildServer',
    'loadServedModels',
    'Scheduler',
    'quantizeFolder',
    'Tensor',
    'ops',
    'backward',
    'AdamW',
    'createModel',
  ]) {
    assert.equal(
      typeof (sftkit as Record<string, unknown>)[name] === 'function' ||
        typeof (sftkit as Record<string, unknown>)[name] === 'object',
      true,
      `sftkit.${name} is missing`,
    );
  }
});
