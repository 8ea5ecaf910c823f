import t from 'tap';
import { evaluate, maxBipartiteMatching, medianAndP95, scoreClass, scoreSegments, unmatchedEvents, type ScoredEvent } from '../src/eval/metrics.js';
import { parseAnnotations } from '../src/eval/annotations.js';

const ev = (filename: string, onset: number, label = 'gunshot', offset = onset + 1): ScoredEvent => ({ filename, onset, offset, label });
const group = (label: string) => (['gunshot', 'glass_break', 'scream', 'explosion'].includes(label) ? 'hostile' : 'non_hostile');

t.test('perfect system', async (t) => {
  const ref = [ev('a', 1), ev('a', 5), ev('b', 2)];
  const r = scoreClass(ref, ref, 1);
  t.match(r, { tp: 3, fp: 0, fn: 0, precision: 1, recall: 1, f1: 1 });
});

t.test('onsets shifted within and beyond the collar', async (t) => {
  const ref = [ev('a', 10)];
  t.equal(scoreClass(ref, [ev('a', 10.9)], 1).tp, 1, '0.9 s late matches at collar 1');
  t.equal(scoreClass(ref, [ev('a', 9)], 1).tp, 1, 'exactly 1 s early matches');
  t.equal(scoreClass(ref, [ev('a', 11.2)], 1).tp, 0, '1.2 s late does not');
  t.equal(scoreClass(ref, [ev('a', 10.3)], 0.2).tp, 0, 'collar 0.2 is stricter');
  t.equal(scoreClass(ref, [ev('b', 10)], 1).tp, 0, 'another file never matches');
});

t.test('a split event: one match, one false positive', async (t) => {
  const r = scoreClass([ev('a', 10, 'gunshot', 14)], [ev('a', 10.2), ev('a', 12.5)], 1);
  t.match(r, { tp: 1, fp: 1, fn: 0, precision: 0.5, recall: 1 });
  t.ok(Math.abs(r.f1 - 2 / 3) < 1e-12);
});

t.test('missed events and false alarms', async (t) => {
  const r = scoreClass([ev('a', 1), ev('a', 20)], [ev('a', 1.1), ev('a', 40)], 1);
  t.match(r, { tp: 1, fp: 1, fn: 1, precision: 0.5, recall: 0.5, f1: 0.5 });
});

t.test('empty reference and empty system give zeros, not NaN', async (t) => {
  t.match(scoreClass([], [], 1), { tp: 0, precision: 0, recall: 0, f1: 0 });
  t.match(scoreClass([ev('a', 1)], [], 1), { fn: 1, recall: 0, f1: 0 });
});

t.test('optimal matching beats greedy: a system onset between two references', async (t) => {
  // Greedy would pair ref 0 with sys 0 (first in range) and leave ref 1 unmatched.
  const { pairs } = maxBipartiteMatching(
    2,
    2,
    (r, s) =>
      [
        [true, true],
        [true, false],
      ][r][s],
  );
  t.equal(pairs, 2);
});

t.test('group level: any hostile label matches any hostile reference; false alarms per hour', async (t) => {
  const ref = [ev('mixed', 10, 'gunshot'), ev('mixed', 30, 'speech')];
  const sys = [ev('mixed', 10.5, 'explosion'), ev('quiet', 5, 'glass_break'), ev('quiet', 20, 'scream')];
  const durations = new Map([
    ['mixed', 45],
    ['quiet', 1800],
  ]);
  const report = evaluate(ref, sys, durations, group, 1);
  t.match(report.groups.hostile, { tp: 1, nRef: 1, nSys: 3 });
  t.equal(report.labels.gunshot.tp, 0, 'label level: explosion is not gunshot');
  t.equal(report.hostileFreeHours, 0.5);
  t.equal(report.hostileFalseAlarmsPerHour, 4, '2 false alarms in half an hour');
});

t.test('where the group figures lose: the misses and the unmatched detections, with their own labels', async (t) => {
  const ref = [
    ev('b', 4, 'scream', 8), // found 0.5 s late
    ev('a', 10, 'glass_break'), // found, as a gunshot (any hostile matches any hostile)
    ev('a', 20, 'gunshot'), // missed: the only detection near it is 1.5 s late
    ev('a', 30, 'speech'), // not hostile: neither listed nor matched
  ];
  const sys = [
    ev('a', 10.4, 'gunshot'),
    ev('a', 21.5, 'gunshot'),
    ev('a', 30.2, 'scream'), // on the speech
    ev('b', 4.5, 'scream'),
    ev('b', 6.2, 'scream'), // a second detection of the same scream
    ev('c', 3, 'explosion'), // a file with no reference
    ev('a', 31, 'speech'),
  ];
  const { missed, unmatched } = unmatchedEvents(ref, sys, group, 'hostile', 1);
  t.same(missed, [ev('a', 20, 'gunshot')]);
  t.same(unmatched, [ev('a', 21.5, 'gunshot'), ev('a', 30.2, 'scream'), ev('b', 6.2, 'scream'), ev('c', 3, 'explosion')], 'by file, then onset');
  const durations = new Map([
    ['a', 45],
    ['b', 45],
    ['c', 45],
  ]);
  const hostile = evaluate(ref, sys, durations, group, 1).groups.hostile!;
  t.equal(missed.length, hostile.fn, "as many misses as the group's false negatives");
  t.equal(unmatched.length, hostile.fp, "as many unmatched detections as the group's false positives");
  t.same(unmatchedEvents(ref, sys, group, 'hostile', 2).missed, [], 'at collar 2 s the late gunshot is found');
});

t.test('median and p95', async (t) => {
  t.same(medianAndP95([3, 1, 2]), { median: 2, p95: 3 });
  t.same(medianAndP95([1, 2, 3, 4]), { median: 2.5, p95: 4 });
  t.ok(Number.isNaN(medianAndP95([]).median));
});

t.test('DCASE TSV parsing names the line at fault', async (t) => {
  const { events, files } = parseAnnotations('filename\tonset\toffset\tevent_label\na.wav\t1.5\t2\tgunshot\nb.wav\n', 'ann.tsv');
  t.same(events, [{ filename: 'a.wav', onset: 1.5, offset: 2, label: 'gunshot' }]);
  t.same(files, ['a.wav', 'b.wav']);
  t.throws(() => parseAnnotations('a.wav\tx\t2\tgunshot\n', 'ann.tsv'), /ann\.tsv:1: onset and offset/);
});

t.test('segment-based metrics on 1 s segments', async (t) => {
  const durations = new Map([['a', 10]]);
  const ref = [ev('a', 1.2, 'gunshot', 3.5)]; // segments 1, 2, 3
  t.match(scoreSegments(ref, ref, durations).overall, { tp: 3, fp: 0, fn: 0, f1: 1 }, 'perfect');
  const shifted = scoreSegments(ref, [ev('a', 2.5, 'gunshot', 4.5)], durations).classes.gunshot; // segments 2, 3, 4
  t.match(shifted, { tp: 2, fp: 1, fn: 1 });
  t.ok(Math.abs(shifted.f1 - 2 / 3) < 1e-12);
  t.match(scoreSegments(ref, [], durations).overall, { tp: 0, fn: 3, f1: 0 }, 'missed');
  t.match(scoreSegments([], [ev('a', 9.5, 'gunshot', 12)], durations).overall, { fp: 1 }, 'an event past the end counts only inside the file');
  t.match(
    scoreSegments([ev('a', 1, 'gunshot', 2)], [ev('a', 1, 'gunshot', 2)], durations).overall,
    { tp: 1 },
    'an offset on a boundary does not touch the next segment',
  );
  t.match(scoreSegments([], [], durations).overall, { tp: 0, f1: 0 }, 'empty');
  const groups = scoreSegments(ref, [ev('a', 1.5, 'explosion', 2.5)], durations, group);
  t.match(groups.classes.hostile, { tp: 2, fp: 0, fn: 1 }, 'group level');
});

t.test('Audacity label tracks as references', async (t) => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const { readReference, parseAudacityLabels } = await import('../src/eval/annotations.js');
  t.same(parseAudacityLabels('1.5\t2.25\tgunshot\n\\\t100.0\t2000.0\n3\t4\tglass break\n', 'a.wav', 'a.txt'), [
    { filename: 'a.wav', onset: 1.5, offset: 2.25, label: 'gunshot' },
    { filename: 'a.wav', onset: 3, offset: 4, label: 'glass break' },
  ]);
  t.throws(() => parseAudacityLabels('1.5 2.25 gunshot\n', 'a.wav', 'a.txt'), /a\.txt:1: expected an Audacity label line/);
  const dir = mkdtempSync(join(tmpdir(), 'earshot-aud-'));
  writeFileSync(join(dir, 'scene.txt'), '10\t11\tscream\n');
  const ref = readReference(dir, ['/x/scene.wav', '/x/quiet.wav']);
  t.same(ref.events, [{ filename: 'scene.wav', onset: 10, offset: 11, label: 'scream' }]);
  t.same(ref.files, ['scene.wav', 'quiet.wav']);
});
