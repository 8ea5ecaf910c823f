/**
 * The live feed behind `GET /api/v1/events/stream` (Server-Sent Events): what changed in the
 * database since the last look. It polls SQLite (every {@link FEED_POLL_MS} ms, only while a
 * client listens) instead of hooking into the daemon, so `earshot serve` streams the same way and
 * so does a data dir another process writes. Each look costs three indexed reads: events and
 * clips after the last rowid seen, and the events still open.
 */
import type { EventView } from './queries.js';
import type { ApiQueries } from './queries.js';

/** Milliseconds between two looks at the database while a client listens. */
export const FEED_POLL_MS = 250;

/** One change a client hears about. */
export type FeedMessage = { type: 'event'; event: EventView } | { type: 'clip'; clip: { id: string; event_id: string | null; kind: string; seq: number } };

type Listener = (messages: FeedMessage[]) => void;

/**
 * Watches the events and clips tables for new rows and for events that ended; tells every
 * listener. A new event is sent when it is stored (at its onset), again when it ends and again
 * when its clip is stored, always as the whole {@link EventView}: clients replace by id.
 */
export class EventFeed {
  private readonly listeners = new Set<Listener>();
  private timer: NodeJS.Timeout | null = null;
  private lastEventSeq = 0;
  private lastClipSeq = 0;
  /** Open events (offset_utc null) by id: looked at again until they end. */
  private readonly open = new Set<string>();
  private readonly maxSeq: { events: () => number; clips: () => number };
  private readonly clipsAfter: (after: number) => { seq: number; id: string; event_id: string | null; kind: string }[];
  private readonly offsetOf: (id: string) => string | null | undefined;
  private readonly onsetOf: (id: string) => string | undefined;

  constructor(private readonly queries: ApiQueries) {
    const db = queries.db;
    const maxEvents = db.prepare('SELECT COALESCE(MAX(rowid), 0) AS n FROM events');
    const maxClips = db.prepare('SELECT COALESCE(MAX(rowid), 0) AS n FROM clips');
    const clipsAfter = db.prepare('SELECT rowid AS seq, id, event_id, kind FROM clips WHERE rowid > ? ORDER BY rowid LIMIT 200');
    const offset = db.prepare('SELECT offset_utc FROM events WHERE id = ?');
    this.maxSeq = { events: () => (maxEvents.get() as { n: number }).n, clips: () => (maxClips.get() as { n: number }).n };
    this.clipsAfter = (after) => clipsAfter.all(after) as { seq: number; id: string; event_id: string | null; kind: string }[];
    this.offsetOf = (id) => (offset.get(id) as { offset_utc: string | null } | undefined)?.offset_utc;
    const onset = db.prepare('SELECT onset_utc FROM events WHERE id = ?');
    this.onsetOf = (id) => (onset.get(id) as { onset_utc: string } | undefined)?.onset_utc;
  }

  /** Number of clients listening. */
  get size(): number {
    return this.listeners.size;
  }

  /**
   * Adds a listener; the first one starts the polling from the current end of the tables (a
   * client reads what is already stored through `GET /api/v1/events`).
   * @returns a function that removes the listener (the last one stops the polling)
   */
  subscribe(listener: Listener): () => void {
    if (this.listeners.size === 0) this.start();
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  /** Stops polling and forgets every listener. */
  close(): void {
    this.listeners.clear();
    this.stop();
  }

  private start(): void {
    this.lastEventSeq = this.maxSeq.events();
    this.lastClipSeq = this.maxSeq.clips();
    this.open.clear();
    this.timer = setInterval(() => this.look(), FEED_POLL_MS);
    this.timer.unref();
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One look at the database; sends what changed, in storage order. */
  private look(): void {
    const messages: FeedMessage[] = [];
    const resend = new Set<string>();
    for (let page = this.queries.eventsAfterRowid(this.lastEventSeq, 100); page.length; page = this.queries.eventsAfterRowid(this.lastEventSeq, 100)) {
      for (const { seq, event } of page) {
        this.lastEventSeq = seq;
        messages.push({ type: 'event', event });
        if (event.offset_utc === null) this.open.add(event.id);
      }
    }
    for (const id of this.open) {
      const offset = this.offsetOf(id);
      if (offset === undefined || offset !== null) {
        this.open.delete(id);
        if (offset) resend.add(id);
      }
    }
    for (let clips = this.clipsAfter(this.lastClipSeq); clips.length; clips = this.clipsAfter(this.lastClipSeq)) {
      for (const clip of clips) {
        this.lastClipSeq = clip.seq;
        messages.push({ type: 'clip', clip });
        if (clip.event_id) resend.add(clip.event_id);
      }
    }
    for (const id of resend) {
      const event = this.eventById(id);
      if (event) messages.push({ type: 'event', event });
    }
    if (messages.length === 0) return;
    for (const listener of this.listeners) listener(messages);
  }

  /** The event with this id as the API shows it (by its onset: events_onset index). */
  private eventById(id: string): EventView | undefined {
    const onset = this.onsetOf(id);
    if (onset === undefined) return undefined;
    // Every event with exactly this onset: [onset, onset + NUL) in string order.
    return this.queries.events({ since: onset, until: `${onset}\u0000`, limit: 1000 }).find((e) => e.id === id);
  }
}
