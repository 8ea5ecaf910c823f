/**
 * Benchmark of the inference backends: median per-invoke time of InferenceBackend.run() (input
 * copy / quantization, invoke, output copy) per model and backend. Not a test.
 *
 *   node dist/inference/backends/bench.js [--runs N] [--threads N] [model.tflite ...]
 *   (from the sources: node --import @tapjs/typescript/import src/inference/backends/bench.ts)
 *
 * Default models: ../shared/models/yamnet/yamnet_waveform.tflite and
 * ../shared/models/st/st_yamnet256_fsd50k_int8.tflite (relative to the working directory, which
 * should be the repository root).
 */
import { resolve } from 'node:path';

import { BACKEND_KINDS, openBackend } from './backend.js';
import { loadTfliteModelFile } from '../tflite/model-file.js';

interface Row {
  model: string;
  backend: string;
  openMs: number;
  firstMs: number;
  medianMs: number;
  p90Ms: number;
  runs: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let runs = 100;
  let threads = 1;
  const models: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--runs') runs = Number(args[++i]);
    else if (a === '--threads') threads = Number(args[++i]);
    else models.push(a);
  }
  if (models.length === 0) {
    models.push('../shared/models/yamnet/yamnet_waveform.tflite', '../shared/models/st/st_yamnet256_fsd50k_int8.tflite');
  }
  const rows: Row[] = [];
  for (const model of models) {
    const { bytes, info } = await loadTfliteModelFile(resolve(model));
    for (const kind of BACKEND_KINDS) {
      const t0 = performance.now();
      const backend = await openBackend(kind, bytes, info, { threads });
      const openMs = performance.now() - t0;
      // Deterministic input in a plausible range (waveform −0.5..0.5, log-mel −9..3).
      const input = new Float32Array(backend.inputLength);
      const waveform = backend.inputLength === 15600;
      for (let i = 0; i < input.length; i++) {
        const u = Math.sin(i * 12.9898) * 43758.5453;
        const r = u - Math.floor(u);
        input[i] = waveform ? r - 0.5 : -9 + 12 * r;
      }
      const f0 = performance.now();
      backend.run(input);
      const firstMs = performance.now() - f0;
      for (let i = 0; i < 5; i++) backend.run(input);
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        const s = performance.now();
        backend.run(input);
        times.push(performance.now() - s);
      }
      backend.close();
      times.sort((a, b) => a - b);
      rows.push({
        model: model.split('/').pop()!,
        backend: kind,
        openMs: Math.round(openMs),
        firstMs: Number(firstMs.toFixed(2)),
        medianMs: Number(percentile(times, 0.5).toFixed(2)),
        p90Ms: Number(percentile(times, 0.9).toFixed(2)),
        runs,
      });
    }
  }
  console.log(`threads ${threads}, node ${process.version}, ${process.arch}`);
  console.table(rows);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
