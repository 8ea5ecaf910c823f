/**
 * The API's JSON as the page reads it (docs/api.md): only the fields the page uses. The server's
 * own types (src/api/queries.ts) are Node code; the page keeps its own narrow copy.
 */

export type Group = 'hostile' | 'non_hostile';

export interface EventClipRef {
  id: string;
  kind: string;
  status: string;
}

export interface EventItem {
  id: string;
  node_id: string;
  label: string;
  group: Group;
  onset_utc: string;
  offset_utc: string | null;
  peak_score: number;
  threshold: number | null;
  model_id: string;
  clips: EventClipRef[];
}

export interface EventsPage {
  events: EventItem[];
  next_cursor: string | null;
}

export interface ClipEvent {
  id: string;
  label: string;
  group: Group;
  onset_utc: string;
  peak_score: number;
  threshold: number | null;
  model_id: string;
  onset_in_clip_s: number;
  offset_in_clip_s: number;
}

export interface Clip {
  id: string;
  event_id: string | null;
  kind: 'event' | 'background';
  group: Group | null;
  start_utc: string;
  duration_s: number;
  status: string;
  labels: number;
  event: ClipEvent | null;
  url: string;
  spectrogram_url: string;
  uncertainty?: number | null;
}

export interface QueuePage {
  strategy: string;
  seed?: number;
  clips: Clip[];
  next_cursor: string | null;
}

export interface StoredLabel {
  id: number;
  clip_id: string;
  label: string;
  onset_s: number | null;
  offset_s: number | null;
  annotator: string | null;
}

export interface ClassScore {
  model_id: string;
  class: string;
  score: number;
}

export interface ClipDetails {
  clip: Clip;
  top_classes: ClassScore[];
  /** A head's label probabilities (highest over the event's patches); empty without a head. */
  head?: { label: string; probability: number }[];
  labels: StoredLabel[];
}

export interface LabelConfig {
  name: string;
  group: Group;
  threshold: number;
}

export interface ReviewConfig {
  node_id: string;
  labels: LabelConfig[];
  negative_label: string;
  nodes: string[];
}

export interface DailyStats {
  days: string[];
  labels: { label: string; group: Group; counts: number[] }[];
}
