/**
 * Turns per-patch label scores into events with onset and offset: per-label thresholds with
 * hysteresis, k-of-n voting over consecutive patches, a silence gate, a merge gap and a minimum
 * duration. Pure and synchronous: it sees patches in order and says what happened.
 *
 * The scheme is the usual one for frame-wise sound event detection (threshold, smoothing by
 * voting, hysteresis), as in the DCASE baseline post-processing (Mesaros et al., "Sound Event
 * Detection: A tutorial", IEEE Signal Processing Magazine 38(5), 2021, section "Post-processing").
 */
import { monotonicFactory } from 'ulid';
import type { LabelGroup } from '../types.js';
import type { LabelSpec } from './label-map.js';

/** What the detector needs to know about one patch. */
export interface PatchObservation {
  /** Patch number from 0, increasing by one per patch. */
  readonly index: number;
  /** Absolute index of the patch's first sample (16 kHz). */
  readonly startSample: number;
  /** Absolute index one past the patch's last sample. */
  readonly endSample: number;
  /** Sample peak of the patch in dBFS (0 dBFS = full scale; −Infinity for digital silence). */
  readonly peakDbfs: number;
  /** Per label (in LabelSpec order), the score 0..1; `null` when the silence gate held the patch back. */
  readonly labelScores: ArrayLike<number> | null;
}

/** Detection settings in samples (see the config's `detection` section for seconds). */
export interface DetectorSettings {
  /** An event opens when at least `voteK` of the last `voteN` patches score at or above the label's threshold. */
  readonly voteK: number;
  readonly voteN: number;
  /**
   * Two stretches of voting patches closer than this (samples, from the end of the last voting
   * patch to the start of the next) are one event.
   */
  readonly mergeGapSamples: number;
  /** An event is reported only once it spans at least this many samples (onset to offset). */
  readonly minDurationSamples: number;
  /** Samples between consecutive patch starts (the patch hop). */
  readonly hopSamples: number;
  /**
   * Groups whose labels never overlap: while an event of the group is open, and for audio it
   * already covered, no other label of the group opens one (one gunshot heard as both
   * "gunshot" and "explosion" is one incident, one alert). When two labels would open at the
   * same patch, the higher score wins.
   */
  readonly exclusiveGroups?: readonly LabelGroup[];
}

/** An event as the detector knows it; the store and transport add wall times. */
export interface DetectedEvent {
  /** ULID: sortable by onset, unique across restarts. */
  readonly id: string;
  readonly label: string;
  readonly group: LabelGroup;
  /** Absolute sample index of the onset: the start of the first voting patch. */
  readonly onsetSample: number;
  /** Absolute sample index of the offset: the end of the last voting patch (grows while open). */
  offsetSample: number;
  /** Highest label score among the event's voting patches. */
  peakScore: number;
  /** Mean label score over the event's voting patches. */
  meanScore: number;
  /** Sample peak over the event's voting patches, in dBFS. */
  peakDbfs: number;
  /** How many patches voted for the event. */
  patchCount: number;
}

/** Why an event ended (`gap`: capture lost audio longer than the pipeline bridges; see src/pipeline/pipeline.ts). */
export type EndReason = 'released' | 'stream_end' | 'shutdown' | 'gap';

/** The detector's output: an event became certain (onset) or ended (offset). */
export type DetectorOutput =
  | { readonly kind: 'onset'; readonly event: DetectedEvent }
  | { readonly kind: 'offset'; readonly event: DetectedEvent; readonly reason: EndReason };

interface Vote {
  startSample: number;
  endSample: number;
  score: number;
  peakDbfs: number;
}

interface OpenEvent {
  event: DetectedEvent;
  scoreSum: number;
  lastVoteEnd: number;
  /** Onset has been reported (the event reached the minimum duration). */
  reported: boolean;
}

/** Per-label detector state. */
class LabelTrack {
  /** The last `voteN` patches: a Vote when the patch reached the threshold, else null. */
  private readonly history: (Vote | null)[] = [];
  private open: OpenEvent | null = null;

  constructor(
    readonly spec: LabelSpec,
    private readonly settings: DetectorSettings,
    private readonly newId: () => string,
  ) {}

  /** True while the label has an event open (reported or not yet). */
  get isOpen(): boolean {
    return this.open !== null;
  }

  /** The open event's offset, or −1 when no event is open. */
  get openOffset(): number {
    return this.open ? this.open.event.offsetSample : -1;
  }

  /**
   * First phase of a patch: extends or ends an open event; for a closed label, records whether
   * the patch votes.
   * @returns the onset the label would open an event at (k of the last n patches voted), or −1
   */
  advance(patch: PatchObservation, score: number, out: DetectorOutput[]): number {
    const vote: Vote = { startSample: patch.startSample, endSample: patch.endSample, score, peakDbfs: patch.peakDbfs };
    if (this.open) {
      if (score >= this.spec.release) {
        this.extend(this.open, vote);
        this.reportIfLongEnough(this.open, out);
      } else if (patch.startSample + this.settings.hopSamples - this.open.lastVoteEnd > this.settings.mergeGapSamples) {
        // The next patch could no longer merge: end the event now rather than one hop later.
        this.close('released', out);
      }
      return -1;
    }
    this.history.push(score >= this.spec.threshold ? vote : null);
    if (this.history.length > this.settings.voteN) this.history.shift();
    const votes = this.history.filter((v): v is Vote => v !== null);
    return votes.length >= this.settings.voteK ? votes[0].startSample : -1;
  }

  /** Second phase: opens the event that {@link advance} found (its votes are in the history). */
  openEvent(out: DetectorOutput[]): void {
    const votes = this.history.filter((v): v is Vote => v !== null);
    const first = votes[0];
    const open: OpenEvent = {
      event: {
        id: this.newId(),
        label: this.spec.name,
        group: this.spec.group,
        onsetSample: first.startSample,
        offsetSample: first.endSample,
        peakScore: 0,
        meanScore: 0,
        peakDbfs: -Infinity,
        patchCount: 0,
      },
      scoreSum: 0,
      lastVoteEnd: first.endSample,
      reported: false,
    };
    for (const v of votes) this.extend(open, v);
    this.open = open;
    this.history.length = 0;
    this.reportIfLongEnough(open, out);
  }

  /** Forgets the votes so far: another label of an exclusive group holds this stretch of audio. */
  suppress(): void {
    this.history.length = 0;
  }

  close(reason: EndReason, out: DetectorOutput[]): void {
    const open = this.open;
    this.open = null;
    this.history.length = 0;
    if (open?.reported) out.push({ kind: 'offset', event: open.event, reason });
  }

  private extend(open: OpenEvent, vote: Vote): void {
    const event = open.event;
    event.patchCount += 1;
    open.scoreSum += vote.score;
    event.meanScore = open.scoreSum / event.patchCount;
    if (vote.score > event.peakScore) event.peakScore = vote.score;
    if (vote.peakDbfs > event.peakDbfs) event.peakDbfs = vote.peakDbfs;
    open.lastVoteEnd = Math.max(open.lastVoteEnd, vote.endSample);
    event.offsetSample = open.lastVoteEnd;
  }

  private reportIfLongEnough(open: OpenEvent, out: DetectorOutput[]): void {
    if (open.reported) return;
    if (open.event.offsetSample - open.event.onsetSample < this.settings.minDurationSamples) return;
    open.reported = true;
    out.push({ kind: 'onset', event: open.event });
  }
}

/**
 * The event detector for a set of labels. Feed it every patch in order with {@link observe};
 * call {@link finish} at the end of the stream.
 */
export class EventDetector {
  private readonly tracks: LabelTrack[];
  private readonly exclusiveGroups: ReadonlySet<LabelGroup>;
  /** Per group, the offset of its latest ended event (for exclusive groups). */
  private readonly groupOffset = new Map<LabelGroup, number>();

  /**
   * @param labels the labels, in the order of `PatchObservation.labelScores`
   * @param settings voting, merge gap and minimum duration, in samples
   * @param newId event id factory (default: monotonic ULIDs)
   * @throws RangeError when voteK is not within 1..voteN
   */
  constructor(
    readonly labels: readonly LabelSpec[],
    settings: DetectorSettings,
    newId: () => string = monotonicFactory(),
  ) {
    this.exclusiveGroups = new Set(settings.exclusiveGroups ?? []);
    if (!(settings.voteK >= 1 && settings.voteK <= settings.voteN)) {
      throw new RangeError(`vote k (${settings.voteK}) must be between 1 and n (${settings.voteN})`);
    }
    this.tracks = labels.map((spec) => new LabelTrack(spec, settings, () => newId()));
  }

  /**
   * Feeds one patch. A silent patch (`labelScores === null`) votes for nothing.
   * @returns onsets and offsets this patch caused, offsets first within a label
   */
  observe(patch: PatchObservation): DetectorOutput[] {
    const out: DetectorOutput[] = [];
    const candidates: { track: LabelTrack; onset: number; score: number }[] = [];
    for (let l = 0; l < this.tracks.length; l++) {
      const score = patch.labelScores ? patch.labelScores[l] : 0;
      const onset = this.tracks[l].advance(patch, score, out);
      if (onset >= 0) candidates.push({ track: this.tracks[l], onset, score });
    }
    this.noteOffsets(out);
    // The best-scoring label of an exclusive group gets the stretch of audio; the others wait.
    candidates.sort((a, b) => b.score - a.score);
    for (const { track, onset } of candidates) {
      const group = track.spec.group;
      if (this.exclusiveGroups.has(group)) {
        const held = this.tracks.some((t) => t !== track && t.spec.group === group && t.isOpen);
        if (held || onset <= (this.groupOffset.get(group) ?? -1)) {
          track.suppress();
          continue;
        }
      }
      track.openEvent(out);
    }
    return out;
  }

  /** Remembers, per group, the latest offset of an event that ended. */
  private noteOffsets(outputs: readonly DetectorOutput[]): void {
    for (const output of outputs) {
      if (output.kind !== 'offset') continue;
      const { group, offsetSample } = output.event;
      this.groupOffset.set(group, Math.max(this.groupOffset.get(group) ?? -1, offsetSample));
    }
  }

  /** Ends every open event (end of stream or shutdown) and returns their offsets. */
  finish(reason: EndReason = 'stream_end'): DetectorOutput[] {
    const out: DetectorOutput[] = [];
    for (const track of this.tracks) track.close(reason, out);
    return out;
  }

  /**
   * Retunes thresholds while running (a config reload): each label's `threshold` and `release`
   * take effect from the next patch; open events and vote histories are kept.
   * @param specs the labels this detector was built with (same names, same order), new values
   * @throws RangeError when the names or order differ (changing the label set needs a new detector)
   */
  updateLabels(specs: readonly LabelSpec[]): void {
    if (specs.length !== this.tracks.length || specs.some((s, i) => s.name !== this.tracks[i].spec.name)) {
      throw new RangeError(`labels can only be retuned, not added, removed or reordered (have ${this.tracks.map((t) => t.spec.name).join(', ')})`);
    }
    // The spec objects are shared with the pipeline and label map, which read only names and classes.
    specs.forEach((s, i) => {
      Object.assign(this.tracks[i].spec, { threshold: s.threshold, release: s.release });
    });
  }
}
