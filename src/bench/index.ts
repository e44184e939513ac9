// Benchmark code in one place: what `sftkit bench` runs and what the scripts in bench/ build on.
export * from './measure.js';
export * from './gemm.js';
export * from './layer.js';
export * from './models.js';
export * from './synthetic.js';
