/**
 * Event-based detection metrics, as defined by sed_eval (Mesaros, Heittola, Virtanen, "Metrics for
 * Polyphonic Sound Event Detection", Applied Sciences 6(6):162, 2016; reference implementation
 * `sed_eval.sound_event.EventBasedMetrics`): a system event matches a reference event of the same
 * class in the same file when their onsets differ by at most the collar (offsets not evaluated,
 * `evaluate_offset=False`); each event matches at most once, and matches are chosen by maximum
 * bipartite matching (sed_eval's default `event_matching_type='optimal'`).
 */
import { medianOfSorted, nearestRankOfSorted } from '../stats.js';

/** One annotated or detected event. Times in seconds from the start of its file. */
export interface ScoredEvent {
  filename: string;
  onset: number;
  offset: number;
  label: string;
}

/** True positives, false positives and false negatives with precision, recall and F1. */
export interface DetectionCounts {
  tp: number;
  fp: number;
  fn: number;
  precision: number;
  recall: number;
  /** 2TP / (2TP + FP + FN), the harmonic mean of precision and recall; 0 where undefined. */
  f1: number;
}

/** Precision, recall and F1 from counts (0 where undefined, as sed_eval's totals report NaN → 0). */
export function scoresFromCounts(tp: number, fp: number, fn: number): DetectionCounts {
  return {
    tp,
    fp,
    fn,
    precision: tp + fp > 0 ? tp / (tp + fp) : 0,
    recall: tp + fn > 0 ? tp / (tp + fn) : 0,
    f1: 2 * tp + fp + fn > 0 ? (2 * tp) / (2 * tp + fp + fn) : 0,
  };
}

/** Event-based counts for one class (or one group, or overall). */
export interface EventCounts extends DetectionCounts {
  /** Reference events. */
  nRef: number;
  /** System events. */
  nSys: number;
}

/** Event-based counts from the numbers of reference and system events and matched pairs. */
export function countsToScores(nRef: number, nSys: number, tp: number): EventCounts {
  return { nRef, nSys, ...scoresFromCounts(tp, nSys - tp, nRef - tp) };
}

/**
 * Maximum bipartite matching (Kuhn's augmenting paths) between `nRef` references and `nSys`
 * system events where `canMatch(r, s)` says whether a pair is allowed.
 * @returns the number of matched pairs and the matched reference of each system event (−1 = none)
 */
export function maxBipartiteMatching(nRef: number, nSys: number, canMatch: (r: number, s: number) => boolean): { pairs: number; refOfSys: Int32Array } {
  const refOfSys = new Int32Array(nSys).fill(-1);
  const sysOfRef = new Int32Array(nRef).fill(-1);
  const tryAssign = (r: number, seen: Uint8Array): boolean => {
    for (let s = 0; s < nSys; s++) {
      if (seen[s] || !canMatch(r, s)) continue;
      seen[s] = 1;
      if (refOfSys[s] === -1 || tryAssign(refOfSys[s], seen)) {
        refOfSys[s] = r;
        sysOfRef[r] = s;
        return true;
      }
    }
    return false;
  };
  let pairs = 0;
  for (let r = 0; r < nRef; r++) if (tryAssign(r, new Uint8Array(nSys))) pairs++;
  return { pairs, refOfSys };
}

/** The onset errors (system − reference, seconds) of matched pairs, and the counts. */
export interface ClassResult extends EventCounts {
  onsetErrors: number[];
}

/**
 * Event-based scores for one class over all files.
 * @param collar onset collar in seconds (sed_eval `t_collar`, e.g. 1.0 or 0.2)
 */
export function scoreClass(reference: readonly ScoredEvent[], system: readonly ScoredEvent[], collar: number): ClassResult {
  let tp = 0;
  const onsetErrors: number[] = [];
  for (const { ref, sys, refOfSys } of matchPerFile(reference, system, collar)) {
    refOfSys.forEach((r, s) => {
      if (r < 0) return;
      tp += 1;
      onsetErrors.push(sys[s].onset - ref[r].onset);
    });
  }
  return { ...countsToScores(reference.length, system.length, tp), onsetErrors };
}

/** Per file: its references, its system events and the optimal matching between them at `collar`. */
function matchPerFile(
  reference: readonly ScoredEvent[],
  system: readonly ScoredEvent[],
  collar: number,
): { ref: ScoredEvent[]; sys: ScoredEvent[]; refOfSys: Int32Array }[] {
  const files = [...new Set([...reference.map((e) => e.filename), ...system.map((e) => e.filename)])];
  return files.map((file) => {
    const ref = reference.filter((e) => e.filename === file);
    const sys = system.filter((e) => e.filename === file);
    // A tiny epsilon keeps a pair exactly at the collar a match despite float rounding.
    const ok = (r: number, s: number) => Math.abs(ref[r].onset - sys[s].onset) <= collar + 1e-9;
    return { ref, sys, refOfSys: maxBipartiteMatching(ref.length, sys.length, ok).refOfSys };
  });
}

/**
 * The events of one group that the matching left alone, with their own labels: the references no
 * system event matched (misses) and the system events that matched no reference (false positives:
 * a false alarm, a second or late detection of one event, or a detection beyond the collar). The
 * matching is {@link evaluate}'s for the group (any label of the group matches any other, optimal
 * matching per file), so there are `fn` misses and `fp` unmatched events of its group figures; when
 * several maximum matchings exist, which events are left is the one {@link maxBipartiteMatching}
 * finds.
 * @param collar onset collar in seconds
 * @returns both lists sorted by file name, then by onset
 */
export function unmatchedEvents(
  reference: readonly ScoredEvent[],
  system: readonly ScoredEvent[],
  groupOf: (label: string) => string,
  group: string,
  collar: number,
): { missed: ScoredEvent[]; unmatched: ScoredEvent[] } {
  const missed: ScoredEvent[] = [];
  const unmatched: ScoredEvent[] = [];
  const ofGroup = (events: readonly ScoredEvent[]) => events.filter((e) => groupOf(e.label) === group);
  for (const { ref, sys, refOfSys } of matchPerFile(ofGroup(reference), ofGroup(system), collar)) {
    const matched = new Set(refOfSys);
    ref.forEach((e, r) => {
      if (!matched.has(r)) missed.push(e);
    });
    sys.forEach((e, s) => {
      if (refOfSys[s] < 0) unmatched.push(e);
    });
  }
  const byFileAndOnset = (a: ScoredEvent, b: ScoredEvent) => (a.filename < b.filename ? -1 : a.filename > b.filename ? 1 : a.onset - b.onset);
  return { missed: missed.sort(byFileAndOnset), unmatched: unmatched.sort(byFileAndOnset) };
}

/**
 * The files holding a reference event of `group`: a detection of the group in any other file is a
 * false alarm ({@link EvaluationReport.hostileFalseAlarmsPerHour} for `hostile`).
 */
export function filesWithGroup(reference: readonly ScoredEvent[], groupOf: (label: string) => string, group: string): Set<string> {
  return new Set(reference.filter((e) => groupOf(e.label) === group).map((e) => e.filename));
}

/** A full evaluation report. */
export interface EvaluationReport {
  collar: number;
  /** Per label. */
  labels: Record<string, ClassResult>;
  /** Per group, with labels of a group treated as one class ("any hostile matches any hostile"). */
  groups: Record<string, ClassResult>;
  /** Class-wise counts summed over labels (sed_eval's overall micro average). */
  overall: EventCounts;
  /** Hostile system events on files that have no hostile reference event, per hour of such files. */
  hostileFalseAlarmsPerHour: number;
  /** Hours of audio in files with no hostile reference event. */
  hostileFreeHours: number;
  /** Segment-based scores on 1 s segments, per label and per group. */
  segments: { labels: SegmentReport; groups: SegmentReport };
}

/**
 * Scores a system output against references.
 * @param durations seconds of audio per file (every evaluated file must be listed, including files with no events)
 * @param groupOf maps a label to its group (`hostile`, `non_hostile`); unknown labels go to `non_hostile`
 */
export function evaluate(
  reference: readonly ScoredEvent[],
  system: readonly ScoredEvent[],
  durations: ReadonlyMap<string, number>,
  groupOf: (label: string) => string,
  collar = 1.0,
): EvaluationReport {
  const labels: Record<string, ClassResult> = {};
  const labelNames = [...new Set([...reference.map((e) => e.label), ...system.map((e) => e.label)])].sort();
  let tp = 0;
  for (const label of labelNames) {
    labels[label] = scoreClass(
      reference.filter((e) => e.label === label),
      system.filter((e) => e.label === label),
      collar,
    );
    tp += labels[label].tp;
  }
  const asGroup = (e: ScoredEvent): ScoredEvent => ({ ...e, label: groupOf(e.label) });
  const refGroups = reference.map(asGroup);
  const sysGroups = system.map(asGroup);
  const groups: Record<string, ClassResult> = {};
  for (const group of [...new Set([...refGroups, ...sysGroups].map((e) => e.label))].sort()) {
    groups[group] = scoreClass(
      refGroups.filter((e) => e.label === group),
      sysGroups.filter((e) => e.label === group),
      collar,
    );
  }
  const filesWithHostile = filesWithGroup(reference, groupOf, 'hostile');
  let hostileFreeSeconds = 0;
  for (const [file, seconds] of durations) if (!filesWithHostile.has(file)) hostileFreeSeconds += seconds;
  const falseAlarms = sysGroups.filter((e) => e.label === 'hostile' && !filesWithHostile.has(e.filename) && durations.has(e.filename)).length;
  const hours = hostileFreeSeconds / 3600;
  return {
    collar,
    labels,
    groups,
    overall: countsToScores(reference.length, system.length, tp),
    hostileFalseAlarmsPerHour: hours > 0 ? falseAlarms / hours : 0,
    hostileFreeHours: hours,
    segments: { labels: scoreSegments(reference, system, durations), groups: scoreSegments(reference, system, durations, groupOf) },
  };
}

/** Segment-based scores: per class and the micro average over classes. */
export interface SegmentReport {
  /** Segment length, seconds. */
  resolution: number;
  classes: Record<string, DetectionCounts>;
  overall: DetectionCounts;
}

/**
 * Segment-based metrics as sed_eval's `SegmentBasedMetrics` defines them: each file is cut into
 * segments of `resolution` seconds (the last one may be shorter); a class is active in a segment
 * when any of its events overlaps it; per class, a segment counts as TP (active in both), FP
 * (system only) or FN (reference only). The overall figures sum the counts over classes (micro
 * average).
 * @param classOf maps an event's label to the class it is scored as (identity for labels, or a group)
 * @param durations seconds per file (every evaluated file)
 */
export function scoreSegments(
  reference: readonly ScoredEvent[],
  system: readonly ScoredEvent[],
  durations: ReadonlyMap<string, number>,
  classOf: (label: string) => string = (label) => label,
  resolution = 1.0,
): SegmentReport {
  const activity = (events: readonly ScoredEvent[]) => {
    const active = new Map<string, Set<string>>(); // class → "file#segment"
    for (const e of events) {
      const duration = durations.get(e.filename);
      if (duration === undefined) continue;
      const cls = classOf(e.label);
      const set = active.get(cls) ?? new Set<string>();
      active.set(cls, set);
      const last = Math.ceil(duration / resolution) - 1;
      const first = Math.max(0, Math.floor(e.onset / resolution));
      // An event ending exactly on a segment boundary does not touch the next segment.
      const end = Math.min(last, Math.ceil(e.offset / resolution) - 1);
      for (let k = first; k <= Math.max(first, end); k++) set.add(`${e.filename}#${k}`);
    }
    return active;
  };
  const ref = activity(reference);
  const sys = activity(system);
  const classes: Record<string, DetectionCounts> = {};
  let tpAll = 0;
  let fpAll = 0;
  let fnAll = 0;
  for (const cls of [...new Set([...ref.keys(), ...sys.keys()])].sort()) {
    const r = ref.get(cls) ?? new Set<string>();
    const s = sys.get(cls) ?? new Set<string>();
    let tp = 0;
    for (const key of s) if (r.has(key)) tp++;
    const fp = s.size - tp;
    const fn = r.size - tp;
    classes[cls] = scoresFromCounts(tp, fp, fn);
    tpAll += tp;
    fpAll += fp;
    fnAll += fn;
  }
  return { resolution, classes, overall: scoresFromCounts(tpAll, fpAll, fnAll) };
}

/** The median and the 95th percentile (nearest rank) of a list; NaN for an empty list. */
export function medianAndP95(values: readonly number[]): { median: number; p95: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: medianOfSorted(sorted), p95: nearestRankOfSorted(sorted, 95) };
}
