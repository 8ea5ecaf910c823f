#!/usr/bin/env node
// earshot's benchmarks (issue 14), `npm run bench`; results go into docs/benchmarks.md by hand.
// Not a test: timings need a quiet machine.
//
//   node scripts/bench.mjs [--minutes 10] [--runs 1] [--skip-realtime] [--only MODEL_ID] [--out DIR]
//                          [--skip-startup | --startup-only]
//
// 1. Joins dev scenes (mixed_00, mixed_01, ...) into one WAV of --minutes (45 s each) with its
//    hostile annotations shifted to match.
// 2. For each served model and each TFLite backend, in separate child processes (so each
//    measurement has its own peak RSS):
//    - model-only: the backend's run() over every patch input of the file, precomputed (waveform
//      slices, or log-mel patches in the model's layout) at the default hop (48 frames);
//    - pipeline: `earshot analyze`'s code path (analyzeFile, models in worker threads) on the same
//      file, same hop.
//    Each reports wall time, CPU time (user + system, all threads) and peak RSS.
// 3. Real time: `earshot run` (yamnet_waveform, default backend, hop 0.48 s, MQTT to a private
//    Mosquitto on a free port, API and clips on, as a sensor runs) on the joined file paced in
//    real time: CPU share of one core (from /proc, after model load), peak RSS (VmHWM), and for
//    every hostile alert matched to an annotated hostile onset, the latency from that onset to
//    the alert's arrival at a subscriber on the same machine.
// 4. Heads (issue 21): per YAMNet-family model and TFLite backend, the extra cost of the embedding
//    output (run() of the unmodified file against runWithEmbedding() of the rewritten one, on the
//    same patch inputs, interleaved) and the cost of a head per patch (applyHead: a logistic head
//    and a one-hidden-layer MLP on embedding + scores, 5 labels). `--heads-only` runs just this part.
// Needs `npm run build`, mosquitto, and ../shared beside the repository.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { joinDevScenes, SHARED } from './lib/scenes.mjs';
import { startupBench, startupMarkdown } from './lib/startup-bench.mjs';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const CLI = join(REPO, 'dist/cli/main.js');
const HOP_FRAMES = 48;

/** The served models: those with a manifest in models/ and a file in ../shared. */
const MODELS = [
  { id: 'yamnet_waveform', path: 'models/yamnet/yamnet_waveform.tflite' },
  { id: 'yamnet', path: 'models/yamnet/yamnet_audio_classifier_with_metadata.tflite' },
  { id: 'yamnet_spectra_in', path: 'models/yamnet/yamnet_spectra_in.tflite' },
  { id: 'st_yamnet256_fsd50k', path: 'models/st/st_yamnet256_fsd50k_int8.tflite' },
  { id: 'st_yamnet256_esc10', path: 'models/st/st_yamnet256_esc10_int8.tflite' },
];
const BACKENDS = ['litert-wasm', 'tflite-node'];

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    runs: { type: 'string', default: '1' },
    'skip-realtime': { type: 'boolean', default: false },
    // Start-up (issue 23, scripts/lib/startup-bench.mjs): --help/--version, a 3 s clip, 10 scenes.
    'skip-startup': { type: 'boolean', default: false },
    'startup-only': { type: 'boolean', default: false },
    'heads-only': { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string' },
    child: { type: 'string' },
    model: { type: 'string' },
    backend: { type: 'string' },
    wav: { type: 'string' },
  },
});

const usage = () => ({ ...process.resourceUsage(), now: performance.now() });
const cpuSeconds = (a, b) => (b.userCPUTime + b.systemCPUTime - a.userCPUTime - a.systemCPUTime) / 1e6;

if (values.child) {
  process.stdout.write(`${JSON.stringify(await child(values.child, values.model, values.backend, values.wav))}\n`);
  process.exit(0);
}

if (values['startup-only']) {
  // Start-up only (issue 23): the three figures side by side, without the long runs.
  console.log(startupMarkdown(await startupBench({ log: (m) => console.error(new Date().toISOString(), m) })));
  process.exit(0);
}

/** Patch inputs of `wav` for a model (waveform slices or log-mel patches in its layout), on the pipeline's grid. */
async function patchInputs(modelPath, wav) {
  const { readWav } = await import(join(REPO, 'dist/capture/wav.js'));
  const { LogMelFrontEnd } = await import(join(REPO, 'dist/frontend/logmel.js'));
  const { Patcher, toLayout } = await import(join(REPO, 'dist/frontend/patcher.js'));
  const { resolveManifest } = await import(join(REPO, 'dist/inference/manifest.js'));
  const { sha256File } = await import(join(REPO, 'dist/inference/model-store.js'));
  const manifest = resolveManifest(undefined, modelPath, await sha256File(modelPath), REPO);
  const audio = readWav(wav).mono;
  const input = manifest.input;
  const frontEnd = new LogMelFrontEnd(input.kind === 'logmel_patch' ? { logOffset: input.log_offset, fMinHz: input.f_min_hz, fMaxHz: input.f_max_hz } : {});
  const patcher = new Patcher({ hopFrames: HOP_FRAMES });
  const inputs = [];
  for (const patch of patcher.push(frontEnd.push(audio))) {
    inputs.push(input.kind === 'waveform' ? audio.slice(patch.startSample, patch.endSample) : toLayout(patch.frames, patcher.patchFrames, patcher.melBands, input.layout));
  }
  return { inputs, audio_s: audio.length / 16000 };
}

function median(xs) {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

/** Heads: the embedding output's extra cost per invoke, and a head's cost per patch. */
async function headChild(modelPath, backend, wav) {
  const { loadTfliteModelFile } = await import(join(REPO, 'dist/inference/tflite/model-file.js'));
  const { openBackend } = await import(join(REPO, 'dist/inference/backends/create-backend.js'));
  const { applyHead, parseHead, serializeHead } = await import(join(REPO, 'dist/inference/head/head-file.js'));
  const { inputs } = await patchInputs(modelPath, wav);
  const { bytes, info } = await loadTfliteModelFile(modelPath);
  const plain = await openBackend(backend, bytes, info, { threads: 1, embeddingOutput: false });
  const both = await openBackend(backend, bytes, info, { threads: 1 });
  plain.run(inputs[0]);
  both.runWithEmbedding(inputs[0]);
  // Interleaved, so drifts of a shared machine hit both alike.
  const plainMs = [];
  const bothMs = [];
  const outputs = [];
  for (const x of inputs) {
    let t0 = performance.now();
    plain.run(x);
    plainMs.push(performance.now() - t0);
    t0 = performance.now();
    outputs.push(both.runWithEmbedding(x));
    bothMs.push(performance.now() - t0);
  }
  plain.close();
  both.close();
  // A head on the real outputs: 5 labels (4 hostile + other) on embedding (1024) + scores (521).
  const labels = ['gunshot', 'explosion', 'glass_break', 'scream', 'other'];
  let seed = 1;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 0.02 - 0.01;
  const head = (hidden) => {
    const n = 1024 + 521;
    const layer = (outputs, inputs, activation) => ({ activation, weights: Array.from({ length: outputs }, () => Array.from({ length: inputs }, random)), bias: new Array(outputs).fill(0) });
    return parseHead(
      serializeHead({
        format: 'earshot-head', version: 1, kind: hidden ? 'mlp' : 'logistic', base_model: { sha256: '0'.repeat(64), name: 'bench' }, labels, background_label: 'other',
        thresholds: Object.fromEntries(labels.slice(0, 4).map((l) => [l, { threshold: 0.5, release: 0.25 }])),
        features: [{ name: 'embedding', size: 1024, transform: 'none' }, { name: 'scores', size: 521, transform: 'logit' }],
        normalisation: { mean: new Array(n).fill(0), std: new Array(n).fill(1) },
        layers: hidden ? [layer(hidden, n, 'relu'), layer(labels.length, hidden, 'softmax')] : [layer(labels.length, n, 'softmax')],
        training: { trained_at: '2026-12-01T00:00:00Z', seed: 1, clip_count: 0, clips_per_label: {}, clips_sha256: '0'.repeat(64), window_count: 0, windows_per_label: {}, options: {}, earshot_version: 'bench' },
        validation: { method: 'none', folds: 0, fa_budget_per_hour: 0, labels: {} },
      }),
      'bench head',
    );
  };
  const perPatchUs = (h) => {
    for (const o of outputs.slice(0, 50)) applyHead(h, o.embedding, o.scores); // warm-up (JIT)
    const rounds = Math.max(1, Math.ceil(20000 / outputs.length));
    // CPU time (this thread's process: nothing else runs in it), so a busy machine inflates it less than wall time.
    const c0 = process.cpuUsage();
    for (let r = 0; r < rounds; r++) for (const o of outputs) applyHead(h, o.embedding, o.scores);
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / (rounds * outputs.length);
  };
  return {
    patches: inputs.length,
    invoke_median_ms: median(plainMs),
    invoke_with_embedding_median_ms: median(bothMs),
    embedding_extra_ms: median(bothMs.map((b, i) => b - plainMs[i])),
    logistic_head_us_per_patch: perPatchUs(head(0)),
    mlp128_head_us_per_patch: perPatchUs(head(128)),
  };
}

/** One measurement inside a child process. */
async function child(kind, modelPath, backend, wav) {
  if (kind === 'heads') return headChild(modelPath, backend, wav);
  const { defaultConfig } = await import(join(REPO, 'dist/config/load.js'));
  const { createLogger } = await import(join(REPO, 'dist/log.js'));
  const { openModelAndLabels, pipelineSettings } = await import(join(REPO, 'dist/setup.js'));
  const config = defaultConfig(REPO);
  config.model.path = modelPath;
  config.model.backend = backend;
  config.frontend.hop_frames = HOP_FRAMES;
  const log = createLogger({ level: 'warn', pretty: false, fd: 2 });
  if (kind === 'pipeline') {
    // As `earshot analyze` does it: models in worker threads, the front end beside them.
    const { analyzeFile } = await import(join(REPO, 'dist/analyze.js'));
    const { modelOpener } = await import(join(REPO, 'dist/pipeline/worker-options.js'));
    const { labels, models } = await openModelAndLabels(config, log, modelOpener(config, log));
    const before = usage();
    const analysis = await analyzeFile(wav, models, labels, pipelineSettings(config), config.node_id, undefined, log);
    const after = usage();
    models.close();
    return { wall_s: (after.now - before.now) / 1000, cpu_s: cpuSeconds(before, after), max_rss_mb: after.maxRSS / 1024, events: analysis.events.length, audio_s: analysis.durationSeconds };
  }
  // Model-only: the backend's run() over precomputed inputs (input copy/quantization, invoke, output copy).
  const { loadTfliteModelFile } = await import(join(REPO, 'dist/inference/tflite/model-file.js'));
  const { openBackend } = await import(join(REPO, 'dist/inference/backends/create-backend.js'));
  const { inputs, audio_s } = await patchInputs(modelPath, wav);
  const { bytes, info } = await loadTfliteModelFile(modelPath);
  const model = await openBackend(backend, bytes, info, { threads: 1 });
  await model.run(inputs[0]); // warm-up (LiteRT.js compiles on the first invoke)
  const times = [];
  const before = usage();
  for (const x of inputs) {
    const t0 = performance.now();
    await model.run(x);
    times.push(performance.now() - t0);
  }
  const after = usage();
  model.close();
  times.sort((a, b) => a - b);
  return {
    wall_s: (after.now - before.now) / 1000,
    cpu_s: cpuSeconds(before, after),
    max_rss_mb: after.maxRSS / 1024,
    patches: inputs.length,
    median_ms: times[Math.floor(times.length / 2)],
    p99_ms: times[Math.min(times.length - 1, Math.floor(times.length * 0.99))],
    audio_s,
  };
}

const log = (...a) => console.error(new Date().toISOString(), ...a);
const dir = values.out ?? mkdtempSync(join(tmpdir(), 'earshot-bench-'));
mkdirSync(dir, { recursive: true });

// 1. The joined file and its hostile references.
const HOSTILE = new Set(['gunshot', 'explosion', 'glass_break', 'scream']);
const wav = join(dir, 'bench.wav');
const joined = await joinDevScenes(wav, Number(values.minutes) * 60);
const seconds = joined.seconds;
const references = joined.references.filter((r) => HOSTILE.has(r.label));
log(`joined ${joined.scenes.length} dev scenes: ${seconds.toFixed(1)} s, ${references.length} hostile references → ${wav}`);

function runChild(kind, model, backend) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', kind, '--model', model, '--backend', backend, '--wav', wav], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.once('close', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`${kind} ${model} ${backend}: exit ${code}`))));
  });
}

// 2. Model-only against pipeline.
const rows = [];
for (const m of MODELS.filter((m) => !values['heads-only'] && (!values.only || m.id === values.only))) {
  const path = join(SHARED, m.path);
  for (const backend of BACKENDS) {
    const best = { model: null, pipeline: null };
    for (let r = 0; r < Number(values.runs); r++) {
      const modelOnly = await runChild('model', path, backend);
      const pipeline = await runChild('pipeline', path, backend);
      if (!best.model || modelOnly.wall_s < best.model.wall_s) best.model = modelOnly;
      if (!best.pipeline || pipeline.wall_s < best.pipeline.wall_s) best.pipeline = pipeline;
    }
    const row = {
      model: m.id,
      backend,
      patches: best.model.patches,
      median_ms: Number(best.model.median_ms.toFixed(2)),
      p99_ms: Number(best.model.p99_ms.toFixed(2)),
      model_only_s: Number(best.model.wall_s.toFixed(2)),
      pipeline_s: Number(best.pipeline.wall_s.toFixed(2)),
      ratio: Number((best.pipeline.wall_s / best.model.wall_s).toFixed(3)),
      pipeline_cpu_s_per_audio_h: Number(((best.pipeline.cpu_s / best.pipeline.audio_s) * 3600).toFixed(0)),
      model_rss_mb: Number(best.model.max_rss_mb.toFixed(0)),
      pipeline_rss_mb: Number(best.pipeline.max_rss_mb.toFixed(0)),
      events: best.pipeline.events,
    };
    rows.push(row);
    log(JSON.stringify(row));
  }
}

// 3. The real-time daemon.
let realtime = null;
if (!values['skip-realtime'] && !values['heads-only']) realtime = await realtimeRun();

// 4. Heads: the embedding output and the head's cost.
const heads = [];
for (const m of MODELS.filter((m) => m.id.startsWith('yamnet') && (!values.only || m.id === values.only))) {
  for (const backend of BACKENDS) {
    const r = await runChild('heads', join(SHARED, m.path), backend);
    const row = { model: m.id, backend, patches: r.patches, invoke_median_ms: round3(r.invoke_median_ms), invoke_with_embedding_median_ms: round3(r.invoke_with_embedding_median_ms), embedding_extra_ms: round3(r.embedding_extra_ms), logistic_head_us: round3(r.logistic_head_us_per_patch), mlp128_head_us: round3(r.mlp128_head_us_per_patch) };
    heads.push(row);
    log(JSON.stringify(row));
  }
}

const machine = { cpu: cpus()[0]?.model, cores: cpus().length, memory_gb: Number((totalmem() / 2 ** 30).toFixed(1)), node: process.version, arch: process.arch, date: new Date().toISOString() };
const startup = values['skip-startup'] || values['heads-only'] ? null : await startupBench({ log });
const result = { machine, audio_s: seconds, hop_frames: HOP_FRAMES, rows, realtime, heads, startup };
writeFileSync(join(dir, 'bench.json'), JSON.stringify(result, null, 2));
console.log(markdown(result));
if (startup) console.log(`\n${startupMarkdown(startup)}`);
log(`results: ${join(dir, 'bench.json')}`);

function round3(x) {
  return Number(x.toFixed(3));
}

function markdown({ machine, audio_s, rows, realtime, heads }) {
  const lines = [
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memory_gb} GB, Node ${machine.node} ${machine.arch}; ${audio_s.toFixed(0)} s of audio, hop ${HOP_FRAMES / 100} s.`,
  ];
  if (rows.length) lines.push(
    '',
    '| model | backend | patches | invoke median / p99 (ms) | model-only (s) | pipeline (s) | pipeline ÷ model-only | pipeline CPU s per audio hour | peak RSS model-only / pipeline (MB) | events |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| \`${r.model}\` | \`${r.backend}\` | ${r.patches} | ${r.median_ms} / ${r.p99_ms} | ${r.model_only_s} | ${r.pipeline_s} | ${r.ratio} | ${r.pipeline_cpu_s_per_audio_h} | ${r.model_rss_mb} / ${r.pipeline_rss_mb} | ${r.events} |`),
  );
  if (realtime) {
    lines.push(
      '',
      `Real time (\`earshot run\`, yamnet_waveform, ${realtime.backend}, hop 0.48 s, ${realtime.audio_s.toFixed(0)} s): CPU ${realtime.cpu_percent_of_one_core.toFixed(2)} % of one core after start-up (${realtime.cpu_percent_with_startup.toFixed(2)} % including it), peak RSS ${realtime.peak_rss_mb.toFixed(0)} MB (median ${realtime.steady_rss_mb.toFixed(0)} MB); ` +
        `alert latency from annotated onset (${realtime.latencies_s.length} hostile alerts matched of ${realtime.references} references): p50 ${realtime.latency_p50_s?.toFixed(3)} s, p95 ${realtime.latency_p95_s?.toFixed(3)} s, max ${realtime.latency_max_s?.toFixed(3)} s.`,
    );
  }
  if (heads.length) {
    lines.push(
      '',
      '| model | backend | patches | invoke median (ms) | with embedding output (ms) | embedding extra, median of pairs (ms) | logistic head per patch (µs CPU) | MLP-128 head per patch (µs CPU) |',
      '|---|---|---|---|---|---|---|---|',
      ...heads.map((r) => `| \`${r.model}\` | \`${r.backend}\` | ${r.patches} | ${r.invoke_median_ms} | ${r.invoke_with_embedding_median_ms} | ${r.embedding_extra_ms} | ${r.logistic_head_us} | ${r.mlp128_head_us} |`),
    );
  }
  return lines.join('\n');
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function procCpuSeconds(pid) {
  // /proc/<pid>/stat fields 14 and 15: utime and stime in clock ticks (all threads).
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
  return (Number(fields[11]) + Number(fields[12])) / ticks;
}

function procStatus(pid, key) {
  const m = new RegExp(`${key}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function realtimeRun() {
  const mqtt = (await import('mqtt')).default;
  const port = await freePort();
  const brokerDir = join(dir, 'broker');
  mkdirSync(brokerDir, { recursive: true });
  writeFileSync(join(brokerDir, 'mosquitto.conf'), `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  const mosquitto = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find(existsSync) ?? 'mosquitto';
  const broker = spawn(mosquitto, ['-c', join(brokerDir, 'mosquitto.conf')], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 500));
  const alerts = [];
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`);
  await new Promise((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  await client.subscribeAsync('earshot/bench/alert/hostile', { qos: 1 });
  client.on('message', (_topic, payload) => alerts.push({ at: Date.now(), alert: JSON.parse(payload.toString()) }));
  const model = join(SHARED, 'models/yamnet/yamnet_waveform.tflite');
  writeFileSync(
    join(dir, 'run.yaml'),
    `node_id: bench\ndata_dir: ${join(dir, 'data')}\nsource: { type: file, path: ${wav}, pacing: realtime }\nmodel: { path: ${model} }\nfrontend: { hop_frames: ${HOP_FRAMES} }\nmqtt: { url: "mqtt://127.0.0.1:${port}", drain_timeout_seconds: 5 }\napi: { port: 0 }\n`,
  );
  log(`real-time run: ${seconds.toFixed(0)} s of audio, in real time`);
  const daemon = spawn(process.execPath, [CLI, 'run', '--config', join(dir, 'run.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let daemonLog = '';
  daemon.stdout.on('data', (d) => (daemonLog += d));
  daemon.stderr.on('data', (d) => (daemonLog += d));
  const spawnedAt = Date.now();
  while (!daemonLog.includes('model loaded') && daemon.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 2000));
  const start = { at: Date.now(), cpu: procCpuSeconds(daemon.pid) };
  let last = start;
  let peakRss = 0;
  const rssSamples = [];
  const sampler = setInterval(() => {
    try {
      last = { at: Date.now(), cpu: procCpuSeconds(daemon.pid) };
      peakRss = Math.max(peakRss, procStatus(daemon.pid, 'VmHWM'));
      rssSamples.push(procStatus(daemon.pid, 'VmRSS'));
    } catch {
      /* the process is exiting */
    }
  }, 1000);
  const code = await new Promise((r) => daemon.once('close', r));
  clearInterval(sampler);
  await new Promise((r) => setTimeout(r, 500));
  await client.endAsync();
  broker.kill();
  writeFileSync(join(dir, 'daemon.log'), daemonLog);
  if (code !== 0) log(`earshot run exited ${code}; see ${join(dir, 'daemon.log')}`);
  // Latency: alert arrival − wall time of the annotated onset. The stream's wall-clock origin is
  // onset_utc − onset_s of any alert (the daemon stamps events from it).
  const latencies = [];
  const matched = [];
  const used = new Set();
  for (const { at, alert } of alerts) {
    const origin = Date.parse(alert.onset_utc) - alert.onset_s * 1000;
    const ref = references
      .map((r, i) => ({ r, i }))
      .filter(({ r, i }) => !used.has(i) && alert.onset_s <= r.offset + 0.5 && alert.onset_s >= r.onset - 1.5)
      .sort((a, b) => Math.abs(a.r.onset - alert.onset_s) - Math.abs(b.r.onset - alert.onset_s))[0];
    if (!ref) continue;
    used.add(ref.i);
    latencies.push((at - (origin + ref.r.onset * 1000)) / 1000);
    // The part of it after the patch that fired was complete (its onset + one 0.975 s window):
    // front end, queue, model, detector, database, MQTT.
    matched.push({ label: alert.label, annotated_onset_s: ref.r.onset, detected_onset_s: alert.onset_s, latency_s: (at - (origin + ref.r.onset * 1000)) / 1000, after_patch_s: (at - (origin + alert.onset_s * 1000)) / 1000 - 0.975 });
  }
  latencies.sort((a, b) => a - b);
  const pick = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : null);
  const wall = (last.at - start.at) / 1000;
  return {
    backend: 'litert-wasm (default)',
    audio_s: seconds,
    wall_s: (Date.now() - spawnedAt) / 1000,
    cpu_percent_of_one_core: (100 * (last.cpu - start.cpu)) / wall,
    cpu_percent_with_startup: (100 * last.cpu) / ((last.at - spawnedAt) / 1000),
    peak_rss_mb: peakRss,
    references: references.length,
    alerts: alerts.length,
    latencies_s: latencies.map((x) => Number(x.toFixed(3))),
    latency_p50_s: pick(0.5),
    latency_p95_s: pick(0.95),
    latency_max_s: latencies.at(-1) ?? null,
    // The median of the 1 s samples: the resident set while listening (start-up and exit excluded by the median).
    steady_rss_mb: rssSamples.sort((a, b) => a - b)[Math.floor(rssSamples.length / 2)] ?? NaN,
    matched,
  };
}
