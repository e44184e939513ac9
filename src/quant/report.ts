// The memory report of a 4-bit base ("bytes/param of the quantized base"), printed when training starts.
import { QuantizedLinearWeight } from './weight.js';

export interface QuantizedBaseStats {
  linears: number;
  params: number;
  bytes: number;
  bytesPerParam: number;
}

/** Over the base weights of a model's linears (`model.linears().map((m) => m.quantized)`); dense ones are skipped. */
export function quantizedBaseStats(weights: readonly unknown[]): QuantizedBaseStats {
  let params = 0;
  let bytes = 0;
  let count = 0;
  for (const q of weights) {
    if (!(q instanceof QuantizedLinearWeight)) continue;
    count++;
    params += q.numel;
    bytes += q.bytes;
  }
  return { linears: count, params, bytes, bytesPerParam: params ? bytes / params : 0 };
}

/** e.g. `4-bit base: 210 linears, 106,168,320 params in 54.8 MB (0.516 bytes/param)`; null without 4-bit linears. */
export function quantizedBaseReport(weights: readonly unknown[]): string | null {
  const s = quantizedBaseStats(weights);
  if (s.linears === 0) return null;
  const fmt = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const size = s.bytes >= 1e6 ? `${(s.bytes / 1e6).toFixed(1)} MB` : `${(s.bytes / 1e3).toFixed(1)} kB`;
  return `4-bit base: ${s.linears} linears, ${fmt(s.params)} params in ${size} (${s.bytesPerParam.toFixed(3)} bytes/param)`;
}
