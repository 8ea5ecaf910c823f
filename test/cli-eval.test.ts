/**
 * `earshot eval` on two dev scenes gives the same figures as scoring `earshot analyze --tsv`
 * output separately; `--out` writes the report and a picture per file.
 */
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readAnnotations } from '../src/eval/annotations.js';
import { evaluate } from '../src/eval/metrics.js';
import { earshot } from './helpers/cli.js';
import { DEV_SCENES, YAMNET_WAVEFORM as MODEL } from './helpers/fixtures.js';

const REF = `${DEV_SCENES}annotations.tsv`;
const SCENES = ['mixed_04.wav', 'mixed_07.wav'].map((f) => `${DEV_SCENES}${f}`);
const HOSTILE = new Set(['gunshot', 'explosion', 'glass_break', 'scream']);

t.test('eval equals scoring analyze --tsv separately', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'earshot-eval-'));
  const evaluated = await earshot(['eval', '--json', '--ref', REF, '--model', MODEL, '--out', out, ...SCENES]);
  t.equal(evaluated.code, 0, evaluated.stderr);
  const report = JSON.parse(evaluated.stdout);

  const analyzed = await earshot(['analyze', '--tsv', '--model', MODEL, ...SCENES]);
  t.equal(analyzed.code, 0, analyzed.stderr);
  const tsv = join(out, 'system.tsv');
  writeFileSync(tsv, analyzed.stdout);
  const system = readAnnotations(tsv).events;
  const reference = readAnnotations(REF).events.filter((e) => e.filename === 'mixed_04.wav' || e.filename === 'mixed_07.wav');
  const separate = evaluate(
    reference,
    system,
    new Map([
      ['mixed_04.wav', 45],
      ['mixed_07.wav', 45],
    ]),
    (l) => (HOSTILE.has(l) ? 'hostile' : 'non_hostile'),
    1,
  );

  for (const group of ['hostile', 'non_hostile']) {
    const a = report.reports[0].groups[group];
    const b = separate.groups[group];
    t.same([a.tp, a.nRef, a.nSys, a.f1], [b.tp, b.nRef, b.nSys, b.f1], `${group}: same counts and F1 (${a.tp}/${a.nRef}/${a.nSys})`);
  }
  for (const [label, r] of Object.entries(separate.labels)) {
    t.same(report.reports[0].labels[label].f1, r.f1, `${label}: same F1`);
  }
  t.ok(report.reports[0].groups.hostile.tp > 0, 'the scenes have matched hostile events');
  t.same(
    report.reports.map((r: { collar: number }) => r.collar),
    [1, 0.2],
    'collar 1 s and 0.2 s',
  );
  t.type(report.reports[0].segments.groups.classes.hostile.f1, 'number', 'segment-based F1 reported');

  for (const file of ['report.md', 'report.json', 'mixed_04.png', 'mixed_07.png']) t.ok(existsSync(join(out, file)), `${file} written`);
  const png = readFileSync(join(out, 'mixed_07.png'));
  t.same([...png.subarray(1, 4)], [...Buffer.from('PNG')], 'a PNG picture');
  t.match(readFileSync(join(out, 'report.md'), 'utf8'), /\| \*\*group hostile\*\* \|/);

  // Where the hostile figures lose, at collar 1 s.
  const { missed, unmatched, collar } = report.hostileUnmatched;
  const hostile = report.reports[0].groups.hostile;
  t.equal(collar, 1);
  t.equal(missed.length, hostile.nRef - hostile.tp, 'every missed hostile reference is listed');
  t.equal(unmatched.length, hostile.nSys - hostile.tp, 'every unmatched hostile detection is listed');
  const under = missed.find((e: { filename: string; onset: number }) => e.filename === 'mixed_07.wav' && Math.abs(e.onset - 8.204) < 1e-6);
  t.ok(under, "mixed_07's gunshot under birdsong is missed");
  t.ok(under.peak_score < 0.1 * under.threshold, `YAMNet does not hear it as a gunshot (peak ${under.peak_score}, threshold ${under.threshold})`);
  const late = missed.find((e: { filename: string; label: string }) => e.filename === 'mixed_04.wav' && e.label === 'scream');
  t.ok(late && late.peak_score >= late.threshold, "mixed_04's scream passes its threshold and is still missed");
  t.ok(
    unmatched.some(
      (e: { filename: string; onset: number; overlaps: string[]; false_alarm: boolean }) =>
        e.filename === 'mixed_04.wav' && e.onset - late.onset > 1 && e.overlaps.includes('scream') && !e.false_alarm,
    ),
    'its detection, over 1 s after its onset, matches nothing and overlaps the scream',
  );
  t.match(
    readFileSync(join(out, 'report.md'), 'utf8'),
    /## Where the hostile figures lose \(collar 1 s\)[\s\S]*\| mixed_07\.wav \| 8\.20 \| 8\.86 \| gunshot \|/,
  );
});
