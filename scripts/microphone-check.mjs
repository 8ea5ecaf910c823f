#!/usr/bin/env node
/**
 * Microphone health on real audio, offline (no model): streams WAV files, one after the other as
 * one stream, through the same meter and judge the daemon uses (src/monitor), with the YAMNet
 * log-mel front end for the tilt, and prints one line per minute and per raise or clear.
 *
 *   node scripts/microphone-check.mjs [--minute-seconds 60] [--config key=value ...] [--quiet] \
 *     A.wav B.wav ... [@segment C.wav ...] [@segment ...]
 *
 * `@name` starts a named segment (files before the first one are `normal`); the last line is a
 * JSON summary with, per segment, its seconds, judged minutes, minutes out of bounds per measure,
 * and each raise and clear with the seconds of that segment's audio heard until then.
 * Needs `npm run build` first. See docs/microphone.md.
 */
import { defaultConfig } from '../dist/config/load.js';
import { readWav } from '../dist/capture/wav.js';
import { LogMelFrontEnd } from '../dist/frontend/logmel.js';
import { MicrophoneMeter, tiltSplitBand } from '../dist/monitor/microphone-meter.js';
import { MicrophoneJudge } from '../dist/monitor/microphone-judge.js';

const args = process.argv.slice(2);
const settings = { ...defaultConfig().microphone_health };
/** Segments in stream order: { name, files }; `@name` starts one, files before any `@` are "normal". */
const segments = [{ name: 'normal', files: [] }];
let quiet = false;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a.startsWith('@')) segments.push({ name: a.slice(1), files: [] });
  else if (a === '--quiet') quiet = true;
  else if (a === '--minute-seconds') settings.minute_seconds = Number(args[++i]);
  else if (a === '--config') {
    const [k, v] = args[++i].split('=');
    if (!(k in settings)) throw new Error(`unknown microphone_health key ${k}`);
    settings[k] = Number(v);
  } else segments.at(-1).files.push(a);
}
const minuteSamples = Math.round(settings.minute_seconds * 40) * 400;
const frontEnd = new LogMelFrontEnd();
const meter = new MicrophoneMeter({ minuteSamples, clipLevel: settings.clip_level, constantRunSamples: settings.constant_run_samples, frames: { logOffset: 0.001, melBands: 64, splitBand: tiltSplitBand() } });
const judge = new MicrophoneJudge(settings);
const fmt = (v, d = 1) => (v === null ? 'null' : v.toFixed(d));
/** Per segment: start and end sample, raises and clears in it, minutes judged. */
const results = [];
let current = null;
const segmentOf = (sample) => results.find((r) => sample >= r.start && sample < r.end) ?? results.at(-1);
function take(minutes) {
  for (const m of minutes) {
    const v = judge.observe(m, minuteSamples);
    const seg = segmentOf(m.startSample);
    if (v.judged) seg.judged_minutes += 1;
    for (const k of Object.keys(v.out)) seg.out_minutes[k] = (seg.out_minutes[k] ?? 0) + 1;
    if (!quiet) console.log(`minute ${m.minute} (${(m.startSample / 16000).toFixed(0)} s, ${seg.name}): floor ${fmt(m.noiseFloorDbfs)} dBFS, tilt ${fmt(m.tiltDb)} dB, clip ${m.clippingRatio.toExponential(2)}, dc ${m.dcOffset.toExponential(2)}, const ${m.constantRatio.toFixed(3)}, zeros ${m.zeroRatio.toFixed(3)}${v.judged ? '' : ' (not judged)'}${Object.keys(v.out).length ? ' OUT ' + Object.keys(v.out).join(',') : ''}`);
    const after = Number(((m.startSample + minuteSamples - seg.start) / 16000).toFixed(1));
    for (const r of v.raised) {
      seg.raises.push({ measure: r.measure, after_s: after, detail: r.detail });
      console.log(`RAISE ${r.measure} in ${seg.name} after ${after} s of it: ${r.detail}`);
    }
    for (const c of v.cleared) {
      seg.clears.push({ measure: c, after_s: after });
      console.log(`CLEAR ${c} in ${seg.name} after ${after} s of it`);
    }
  }
}
let at = 0;
for (const segment of segments) {
  if (segment.files.length === 0) continue;
  current = { name: segment.name, start: at, end: Infinity, seconds: 0, judged_minutes: 0, out_minutes: {}, raises: [], clears: [] };
  if (results.length) results.at(-1).end = at;
  results.push(current);
  for (const file of segment.files) {
    const samples = readWav(file).mono;
    for (let s = 0; s < samples.length; s += 1600) {
      const chunk = samples.subarray(s, Math.min(samples.length, s + 1600));
      take(meter.addSamples(at + s, chunk));
      const batch = frontEnd.push(chunk);
      if (batch.count) take(meter.addFrames(batch.firstFrame * 160, batch.data, batch.count));
    }
    at += samples.length;
    current.seconds += samples.length / 16000;
  }
}
take(meter.flush());
console.log(JSON.stringify({ settings, segments: results.map(({ start, end, ...r }) => r), baseline: judge.baseline }));
