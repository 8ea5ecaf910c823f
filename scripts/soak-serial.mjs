#!/usr/bin/env node
// Soak test of the serial capture path (issue 11 "Done when"), not part of `npm test`:
//   node scripts/soak-serial.mjs [--minutes 10] [--drop 0.01] [--bit-errors 0.001] [--seed 42] [--resend-depth 64] [--out DIR]
// 1. concatenates dev scenes (mixed_NN.wav) into one WAV of at least --minutes;
// 2. runs `earshot analyze --json` on it (the clean reference);
// 3. streams it in real time over a socat pty pair with `earshot simulate-serial`, injecting packet
//    loss and bit errors, into `earshot run` (source.type: serial), sampling the daemon's RSS; the
//    simulator resends lost packets on request like the example firmware (--resend-depth 0: a
//    device that never does, so every lost packet is a zero-filled gap);
// 4. checks: same hostile events (label, onsets within 0.5 s), loss counters equal to what was
//    injected (first sends and resends), every lost packet either resent or a gap of its length,
//    and prints RSS at start and end. Exit status 0 when every check passes.
// Needs `npm run build`, socat, and ../shared beside the repository.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { joinDevScenes, SHARED } from './lib/scenes.mjs';
import Database from 'better-sqlite3';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const CLI = join(REPO, 'dist/cli/main.js');
const MODEL = join(SHARED, 'models/yamnet/yamnet_waveform.tflite');
const { values } = parseArgs({ options: { minutes: { type: 'string', default: '10' }, drop: { type: 'string', default: '0.01' }, 'bit-errors': { type: 'string', default: '0.001' }, seed: { type: 'string', default: '42' }, 'resend-depth': { type: 'string', default: '64' }, out: { type: 'string' }, speed: { type: 'string', default: '1' } } });
const dir = values.out ?? mkdtempSync(join(tmpdir(), 'earshot-soak-'));
mkdirSync(dir, { recursive: true });
const log = (...a) => console.error(new Date().toISOString(), ...a);

// 1. The scene concatenation (16 kHz mono s16, so the serial path carries it exactly).
const wav = join(dir, 'soak.wav');
const joined = await joinDevScenes(wav, Number(values.minutes) * 60, 1);
log(`scene concatenation: ${joined.scenes.length} scenes, ${joined.seconds.toFixed(1)} s → ${wav}`);

// 2. The clean reference.
const analysis = JSON.parse(execFileSync(process.execPath, [CLI, 'analyze', '--json', '--model', MODEL, wav], { maxBuffer: 1 << 26 }).toString());
const reference = analysis.files[0].events.filter((e) => e.group === 'hostile');
log(`clean file: ${reference.length} hostile events`);

// 3. The live run.
const dev = join(dir, 'dev');
const sim = join(dir, 'sim');
const socat = spawn('socat', [`pty,raw,echo=0,link=${dev}`, `pty,raw,echo=0,ignoreeof,link=${sim}`], { stdio: 'ignore' });
while (!existsSync(dev) || !existsSync(sim)) await new Promise((r) => setTimeout(r, 50));
writeFileSync(join(dir, 'config.yaml'), `node_id: soak\ndata_dir: ${join(dir, 'data')}\nsource: { type: serial, path: ${dev} }\nmodel: { path: ${MODEL} }\n`);
const daemon = spawn(process.execPath, [CLI, 'run', '--config', join(dir, 'config.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
// The daemon may end first (at the end-of-stream packet) while the simulator still answers resend requests.
const daemonClosed = new Promise((r) => daemon.once('close', r));
let daemonLog = '';
daemon.stdout.on('data', (d) => (daemonLog += d));
daemon.stderr.on('data', (d) => (daemonLog += d));
const rss = () => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${daemon.pid}/status`, 'utf8'))[1]) / 1024;
  } catch {
    return NaN;
  }
};
while (!daemonLog.includes('source opened')) await new Promise((r) => setTimeout(r, 100));
await new Promise((r) => setTimeout(r, 3000));
const samples = [];
const started = Date.now();
const simulator = spawn(process.execPath, [CLI, 'simulate-serial', '--wav', wav, '--port', sim, '--speed', values.speed, '--drop', values.drop, '--bit-errors', values['bit-errors'], '--seed', values.seed, '--resend-depth', values['resend-depth']], { stdio: ['ignore', 'pipe', 'inherit'] });
let simOut = '';
simulator.stdout.on('data', (d) => (simOut += d));
const sampler = setInterval(() => {
  samples.push({ t: Math.round((Date.now() - started) / 1000), rss_mb: Number(rss().toFixed(1)) });
  if (samples.length % 6 === 0) log(`t=${samples.at(-1).t}s rss=${samples.at(-1).rss_mb} MB`);
}, 10_000);
samples.push({ t: 0, rss_mb: Number(rss().toFixed(1)) });
const [simCode] = await Promise.all([new Promise((r) => simulator.once('close', r))]);
samples.push({ t: Math.round((Date.now() - started) / 1000), rss_mb: Number(rss().toFixed(1)) });
const daemonCode = await daemonClosed;
clearInterval(sampler);
socat.kill();
writeFileSync(join(dir, 'daemon.log'), daemonLog);

// 4. Checks.
const injected = JSON.parse(simOut.trim().split('\n').pop());
const final = daemonLog.split('\n').filter(Boolean).map((l) => { try { return JSON.parse(l); } catch { return {}; } }).find((l) => l.msg === 'source ended');
const capture = final?.capture ?? {};
const db = new Database(join(dir, 'data/earshot.db'), { readonly: true });
const live = db.prepare("SELECT label, onset_s, offset_s FROM events WHERE grp = 'hostile' ORDER BY onset_s").all();
const gapRows = db.prepare('SELECT COUNT(*) AS n, SUM(duration_s) AS lost FROM gaps').get();
db.close();
const unmatched = [];
const used = new Set();
for (const ref of reference) {
  const i = live.findIndex((e, k) => !used.has(k) && e.label === ref.label && Math.abs(e.onset_s - ref.onset_s) <= 0.5);
  if (i < 0) unmatched.push(ref);
  else used.add(i);
}
const extra = live.filter((_, k) => !used.has(k));
const maxOnsetError = Math.max(0, ...reference.map((ref) => Math.min(...live.filter((e) => e.label === ref.label).map((e) => Math.abs(e.onset_s - ref.onset_s)))));
const checks = {
  simulator_exit: simCode === 0,
  daemon_exit: daemonCode === 0,
  same_hostile_events: unmatched.length === 0 && extra.length === 0,
  lost_packets_equal_injected: capture.lostPackets === injected.dropped + injected.corrupted,
  corrupt_frames_equal_injected: capture.crcErrors + capture.malformed === injected.corrupted + injected.resends.corrupted,
  every_lost_packet_resent_or_a_gap: capture.resentPackets + capture.unrecoveredPackets === capture.lostPackets,
  gap_samples_equal_unrecovered: Math.round((gapRows.lost ?? 0) * 16000) === capture.unrecoveredPackets * 256,
  gap_rows: gapRows.n,
};
const rssValues = samples.map((s) => s.rss_mb).filter(Number.isFinite);
const report = {
  dir,
  audio_s: joined.seconds,
  wall_s: (Date.now() - started) / 1000,
  injected,
  capture,
  gaps: gapRows,
  reference_hostile: reference.length,
  live_hostile: live.length,
  unmatched_reference: unmatched,
  extra_live: extra,
  max_onset_error_s: maxOnsetError,
  rss_mb: { start: rssValues[0], end: rssValues.at(-1), max: Math.max(...rssValues), samples },
  checks,
};
writeFileSync(join(dir, 'report.json'), JSON.stringify(report, null, 2));
console.log(JSON.stringify({ ...report, rss_mb: { start: report.rss_mb.start, end: report.rss_mb.end, max: report.rss_mb.max } }, null, 2));
process.exitCode = Object.values(checks).every((c) => c === true || typeof c === 'number') ? 0 : 1;
