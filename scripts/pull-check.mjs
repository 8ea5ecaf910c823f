#!/usr/bin/env node
// Issue 12's "Done when", not part of `npm test`:
//   node scripts/pull-check.mjs [--scenes 10] [--speed 1] [--out DIR]
// 1. joins dev scenes mixed_00.. into one WAV and runs `earshot run` on it, paced in real time,
//    with clips on and the API on a free port;
// 2. while it runs (about two thirds in), `earshot pull --strategy all` from another process (a
//    live node); after the run ends, `earshot serve` on the same data dir and a second pull (the
//    rest, incremental: nothing fetched twice);
// 3. re-analyses every pulled event clip with `earshot analyze --json` and checks the clip
//    contains its event: an event of the same label overlapping the span of the clip's label
//    track. Prints clips, bytes, pull times and the check.
// Needs `npm run build`, and ../shared beside the repository.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { joinDevScenes, SHARED } from './lib/scenes.mjs';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const CLI = join(REPO, 'dist/cli/main.js');
const MODEL = join(SHARED, 'models/yamnet/yamnet_waveform.tflite');
const { values } = parseArgs({ options: { scenes: { type: 'string', default: '10' }, speed: { type: 'string', default: '1' }, out: { type: 'string' } } });
const dir = values.out ?? mkdtempSync(join(tmpdir(), 'earshot-pull-check-'));
mkdirSync(dir, { recursive: true });
const log = (...a) => console.error(new Date().toISOString(), ...a);

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

// 1. The scenes, joined.
const wav = join(dir, 'scenes.wav');
const { seconds: audioSeconds } = await joinDevScenes(wav, Number(values.scenes) * 45);
log(`${values.scenes} scenes joined: ${audioSeconds} s`);

const port = await freePort();
const config = join(dir, 'node.yaml');
writeFileSync(config, `node_id: check-node\ndata_dir: ${join(dir, 'data')}\nsource: { type: file, path: ${wav}, pacing: realtime, speed: ${values.speed} }\nmodel: { path: ${MODEL} }\napi: { port: ${port} }\n`);
const node = `http://127.0.0.1:${port}`;
const out = join(dir, 'pulled');

function cli(args, label) {
  return new Promise((resolve) => {
    const started = Date.now();
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.once('close', (code) => {
      const seconds = (Date.now() - started) / 1000;
      log(`${label}: exit ${code} in ${seconds.toFixed(2)} s`);
      resolve({ code, stdout, stderr, seconds });
    });
  });
}

// 2. The live run, a pull while it runs, and a pull after it through `earshot serve`.
const daemon = cli(['run', '--config', config], 'earshot run');
await new Promise((r) => setTimeout(r, ((audioSeconds * 2) / 3 / Number(values.speed)) * 1000));
const livePull = await cli(['pull', '--node', node, '--out', out, '--strategy', 'all'], 'pull from the running node');
const run = await daemon;
writeFileSync(join(dir, 'run.log'), run.stdout + run.stderr);
const server = spawn(process.execPath, [CLI, 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
let serverLog = '';
server.stdout.on('data', (d) => (serverLog += d));
while (!serverLog.includes('api listening')) await new Promise((r) => setTimeout(r, 50));
const finalPull = await cli(['pull', '--node', node, '--out', out, '--strategy', 'all'], 'pull after the run (earshot serve)');
const again = await cli(['pull', '--node', node, '--out', out, '--strategy', 'all'], 'pull again (nothing new expected)');
server.kill('SIGTERM');

// 3. Re-analysis of the pulled clips.
const manifest = JSON.parse(readFileSync(join(out, 'check-node', 'manifest.json'), 'utf8'));
const eventClips = manifest.clips.filter((c) => c.kind === 'event');
const files = eventClips.map((c) => join(out, 'check-node', c.file));
const analysis = JSON.parse(execFileSync(process.execPath, [CLI, 'analyze', '--json', '--model', MODEL, ...files], { maxBuffer: 1 << 26 }).toString());
const checks = eventClips.map((clip, i) => {
  const [start, end] = clip.event_in_clip_s;
  const found = analysis.files[i].events.filter((e) => e.label === clip.label && e.onset_s < end + 0.5 && (e.offset_s ?? e.onset_s) > start - 0.5);
  return { clip: clip.file, label: clip.label, span_s: [start, end], contains_event: found.length > 0, events_in_clip: analysis.files[i].events.map((e) => `${e.label}@${e.onset_s}`) };
});
const db = join(dir, 'data', 'earshot.db');
const counts = JSON.parse(
  execFileSync(process.execPath, ['-e', `const D=require('better-sqlite3');const d=new D(${JSON.stringify(db)},{readonly:true});console.log(JSON.stringify({events:d.prepare("select count(*) n from events").get().n, clips:d.prepare("select kind, count(*) n, sum(bytes) bytes from clips group by kind").all()}))`], { cwd: REPO }).toString(),
);
const report = {
  dir,
  audio_s: audioSeconds,
  node: counts,
  pulled: { clips: manifest.clips.length, event_clips: eventClips.length, background_clips: manifest.clips.length - eventClips.length, bytes: manifest.clips.reduce((s, c) => s + c.bytes, 0) },
  pull_seconds: { live: livePull.seconds, after_run: finalPull.seconds, again: again.seconds },
  pull_output: { live: livePull.stdout.trim(), after_run: finalPull.stdout.trim(), again: again.stdout.trim() },
  exits: { run: run.code, live_pull: livePull.code, final_pull: finalPull.code, again: again.code },
  clips_containing_their_event: `${checks.filter((c) => c.contains_event).length}/${checks.length}`,
  not_containing: checks.filter((c) => !c.contains_event),
  tracks_present: manifest.clips.every((c) => existsSync(join(out, 'check-node', c.track))),
};
writeFileSync(join(dir, 'report.json'), JSON.stringify({ ...report, checks }, null, 2));
console.log(JSON.stringify(report, null, 2));
process.exitCode = report.not_containing.length === 0 && Object.values(report.exits).every((c) => c === 0) ? 0 : 1;
