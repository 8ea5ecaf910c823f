// Start-up benchmarks (issue 23), part of `npm run bench` and runnable alone:
//
//   node scripts/lib/startup-bench.mjs [--cli dist/cli/main.js] [--runs 10] [--scenes 10] [--json]
//
// Three figures, each against its target on this machine:
// 1. `earshot --help` and `earshot --version` wall time against a bare `node -e ''` (target ≤ 3×);
// 2. `earshot analyze` of a 3 s clip (audio/clips/scream_2.wav, yamnet_waveform, default backend):
//    wall time of the whole process (target ≤ 1.2 s);
// 3. `earshot analyze --tsv` over 10 dev scenes (mixed_00 … mixed_09, one process, start-up
//    included) against model-only: the backend's run() over the same patch inputs of the same
//    files, precomputed, timed in a child process after its model is loaded (target ≤ 1.10×);
//    `analyze` runs as many model sets as it has cores for (`--jobs auto`), so the same with
//    `--jobs 1` (one model worker, as model-only has) is reported beside it.
// Each figure is the median of --runs runs (3 for the scenes) — medians, as other work shares the
// machine. `--cli` points at another build (e.g. a copy of dist/ from before a change).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SHARED = join(REPO, '../shared');
const MODEL = join(SHARED, 'models/yamnet/yamnet_waveform.tflite');
const CLIP = join(SHARED, 'audio/clips/scream_2.wav');
const HOP_FRAMES = 48;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** GNU time, for the CPU seconds of a process and its children (user + system); absent: wall only. */
const GNU_TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;
/** CPU seconds of each measurement, by its label (medians, filled by medianRun). */
export const cpuSeconds = {};

/** Wall and CPU seconds of one process run to its end; throws when it fails (unless `okCodes` allows it). */
function timeRun(args, okCodes = [0]) {
  const t0 = performance.now();
  const r = GNU_TIME
    ? spawnSync(GNU_TIME, ['-f', 'H5TIME %U %S', process.execPath, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 })
    : spawnSync(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  const wall = (performance.now() - t0) / 1000;
  if (!okCodes.includes(r.status)) throw new Error(`node ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  const m = /H5TIME ([\d.]+) ([\d.]+)/.exec(String(r.stderr));
  return { wall, cpu: m ? Number(m[1]) + Number(m[2]) : NaN };
}

/** Median wall seconds of `runs` runs, after one warm-up (file cache); the median CPU goes to cpuSeconds[label]. */
function medianRun(args, runs, okCodes, label = args.join(' ')) {
  timeRun(args, okCodes);
  const results = Array.from({ length: runs }, () => timeRun(args, okCodes));
  cpuSeconds[label] = median(results.map((r) => r.cpu));
  return median(results.map((r) => r.wall));
}

/** Model-only seconds over the patch inputs of `files` (inside a child: `--child-model`). */
async function modelOnly(files, backend) {
  const { defaultConfig } = await import(join(REPO, 'dist/config/load.js'));
  const { readWav } = await import(join(REPO, 'dist/capture/wav.js'));
  const { LogMelFrontEnd } = await import(join(REPO, 'dist/frontend/logmel.js'));
  const { Patcher } = await import(join(REPO, 'dist/frontend/patcher.js'));
  const { loadTfliteModelFile } = await import(join(REPO, 'dist/inference/tflite/model-file.js'));
  const { openBackend } = await import(join(REPO, 'dist/inference/backends/create-backend.js'));
  const inputs = [];
  for (const file of files) {
    const audio = readWav(file).mono;
    const patcher = new Patcher({ hopFrames: HOP_FRAMES });
    for (const patch of patcher.push(new LogMelFrontEnd({}).push(audio))) inputs.push(audio.slice(patch.startSample, patch.endSample));
  }
  const { bytes, info } = await loadTfliteModelFile(MODEL);
  const model = await openBackend(backend ?? defaultConfig(REPO).model.backend, bytes, info, { threads: 1 });
  await model.run(inputs[0]); // warm-up (LiteRT.js compiles on the first invoke)
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (const x of inputs) await model.run(x);
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  model.close();
  return { wall_s: wall, cpu_s: (c.user + c.system) / 1e6, patches: inputs.length };
}

/**
 * Runs the three start-up measurements.
 * @param cli path of the `earshot` entry point to measure (default: this repository's build)
 * @returns seconds and ratios, with their targets
 */
export async function startupBench({ cli = join(REPO, 'dist/cli/main.js'), runs = 10, scenes = 10, log = () => {} } = {}) {
  cli = resolve(cli);
  const files = Array.from({ length: scenes }, (_, n) => join(SHARED, `audio/scenes/dev/mixed_${String(n).padStart(2, '0')}.wav`));
  for (const f of [MODEL, CLIP, ...files]) if (!existsSync(f)) throw new Error(`startup bench: ${f} is missing`);
  const node = medianRun(['-e', ''], runs, [0], 'node');
  const help = medianRun([cli, '--help'], runs, [0], 'help');
  // A build without --version exits 2 ("unknown option") after loading everything: still its start-up.
  const version = medianRun([cli, '--version'], runs, [0, 2], 'version');
  log(`node -e '': ${node.toFixed(3)} s; --help ${help.toFixed(3)} s; --version ${version.toFixed(3)} s`);
  const clip = medianRun([cli, 'analyze', '--model', MODEL, CLIP], Math.max(3, Math.ceil(runs / 2)), [0], 'clip');
  log(`analyze 3 s clip: ${clip.toFixed(3)} s`);
  const sceneRuns = 3;
  const pipeline = medianRun([cli, 'analyze', '--tsv', '--model', MODEL, ...files], sceneRuns, [0], 'scenes');
  // A build from before --jobs rejects the option (exit 2): then there is no one-set figure.
  let oneSet = NaN;
  try {
    oneSet = medianRun([cli, 'analyze', '--tsv', '--jobs', '1', '--model', MODEL, ...files], sceneRuns, [0], 'scenes_one_set');
  } catch {
    log('this build has no --jobs: no one-set figure');
  }
  const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child-model', ...files], { cwd: REPO, encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`model-only child: exit ${child.status}\n${child.stderr}`);
  const model = JSON.parse(child.stdout.trim().split('\n').pop());
  log(`analyze --tsv ${scenes} scenes: ${pipeline.toFixed(3)} s (--jobs 1: ${oneSet.toFixed(3)} s); model-only ${model.wall_s.toFixed(3)} s (${model.patches} patches)`);
  return {
    node_s: node,
    help_s: help,
    help_ratio: help / node,
    version_s: version,
    version_ratio: version / node,
    clip_s: clip,
    scenes,
    scenes_analyze_s: pipeline,
    scenes_model_only_s: model.wall_s,
    scenes_ratio: pipeline / model.wall_s,
    scenes_one_set_s: oneSet,
    scenes_one_set_ratio: oneSet / model.wall_s,
    // CPU seconds (user + system, the process and its children): less inflated than wall time by other work on the machine.
    cpu_s: { ...cpuSeconds, scenes_model_only: model.cpu_s },
    load_average: loadavg()[0],
    targets: { help_ratio: 3, version_ratio: 3, clip_s: 1.2, scenes_ratio: 1.1 },
  };
}

/** The figures as a Markdown table, each beside its target. */
export function startupMarkdown(r) {
  const mark = (ok) => (ok ? 'met' : 'missed');
  const cpu = (res, key) => (Number.isFinite(res.cpu_s?.[key]) ? `${res.cpu_s[key].toFixed(2)} s` : '–');
  return [
    `Load average during the run: ${r.load_average.toFixed(1)} (on ${cpus().length} cores). Wall time is the target; CPU (user + system of the process and its children) is less disturbed by other work.`,
    '',
    `| start-up measure | target | measured (wall) | CPU | |`,
    `|---|---|---|---|---|`,
    `| \`earshot --help\` ÷ \`node -e ''\` (${(r.node_s * 1000).toFixed(0)} ms; CPU ${cpu(r, 'node')}) | ≤ 3 × | ${r.help_ratio.toFixed(2)} × (${(r.help_s * 1000).toFixed(0)} ms) | ${cpu(r, 'help')} | ${mark(r.help_ratio <= 3)} |`,
    `| \`earshot --version\` ÷ \`node -e ''\` | ≤ 3 × | ${r.version_ratio.toFixed(2)} × (${(r.version_s * 1000).toFixed(0)} ms) | ${cpu(r, 'version')} | ${mark(r.version_ratio <= 3)} |`,
    `| \`earshot analyze\` of a 3 s clip | ≤ 1.2 s | ${r.clip_s.toFixed(2)} s | ${cpu(r, 'clip')} | ${mark(r.clip_s <= 1.2)} |`,
    `| \`earshot analyze --tsv\` of ${r.scenes} dev scenes ÷ model-only | ≤ 1.10 × | ${r.scenes_ratio.toFixed(3)} × (${r.scenes_analyze_s.toFixed(2)} s / ${r.scenes_model_only_s.toFixed(2)} s) | ${cpu(r, 'scenes')} / ${cpu(r, 'scenes_model_only')} | ${mark(r.scenes_ratio <= 1.1)} |`,
    ...(Number.isFinite(r.scenes_one_set_ratio)
      ? [
          `| the same with \`--jobs 1\` (one model worker, like model-only) | – | ${r.scenes_one_set_ratio.toFixed(3)} × (${r.scenes_one_set_s.toFixed(2)} s) | ${cpu(r, 'scenes_one_set')} | ${r.scenes_one_set_ratio <= 1.1 ? 'under 1.10 ×' : 'over 1.10 ×'} |`,
        ]
      : []),
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { cli: { type: 'string' }, runs: { type: 'string', default: '10' }, scenes: { type: 'string', default: '10' }, json: { type: 'boolean', default: false }, 'child-model': { type: 'boolean', default: false }, backend: { type: 'string' } },
  });
  if (values['child-model']) {
    process.stdout.write(`${JSON.stringify(await modelOnly(positionals, values.backend))}\n`);
    process.exit(0);
  }
  const result = await startupBench({ cli: values.cli, runs: Number(values.runs), scenes: Number(values.scenes), log: (m) => console.error(m) });
  console.log(values.json ? JSON.stringify(result, null, 2) : startupMarkdown(result));
}
