/**
 * Events: newest first, filtered (label, group, node, time range, minimum score, unlabelled
 * only), paged through the API's keyset cursor, and kept current by the live stream: an event the
 * node stores while the page is open appears at the top (if it passes the filters) without a reload.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { getJson, listen, type StreamState } from './api.js';
import { fromLocalInput, labelColour, labelName, score, utc } from './format.js';
import type { EventItem, EventsPage, ReviewConfig } from './types.js';

interface Filters {
  label: string;
  group: string;
  node: string;
  since: string;
  until: string;
  minScore: string;
  unlabelled: boolean;
}

const NO_FILTERS: Filters = { label: '', group: '', node: '', since: '', until: '', minScore: '', unlabelled: false };
const PAGE = 50;

function query(filters: Filters, cursor: string | null): string {
  const q = new URLSearchParams({ order: 'desc', limit: String(PAGE) });
  if (filters.label) q.set('label', filters.label);
  if (filters.group) q.set('group', filters.group);
  if (filters.node) q.set('node', filters.node);
  const since = fromLocalInput(filters.since);
  const until = fromLocalInput(filters.until);
  if (since) q.set('since', since);
  if (until) q.set('until', until);
  if (filters.minScore) q.set('min_score', filters.minScore);
  if (filters.unlabelled) q.set('unlabelled', 'true');
  if (cursor) q.set('cursor', cursor);
  return `/api/v1/events?${q}`;
}

/** True when a streamed event passes the filters (unlabelled: a new event has no labels yet). */
function passes(event: EventItem, filters: Filters): boolean {
  if (filters.label && event.label !== filters.label) return false;
  if (filters.group && event.group !== filters.group) return false;
  if (filters.node && event.node_id !== filters.node) return false;
  const since = fromLocalInput(filters.since);
  const until = fromLocalInput(filters.until);
  if (since && event.onset_utc < since) return false;
  if (until && event.onset_utc >= until) return false;
  if (filters.minScore && event.peak_score < Number(filters.minScore)) return false;
  return true;
}

/** Newest first, by (onset, id) as the API pages them. */
function newestFirst(a: EventItem, b: EventItem): number {
  return a.onset_utc < b.onset_utc ? 1 : a.onset_utc > b.onset_utc ? -1 : a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** `list` with `events` added or replaced by id, newest first. */
function mergeNewest(list: EventItem[], events: EventItem[]): EventItem[] {
  const byId = new Map(list.map((e) => [e.id, e]));
  for (const e of events) byId.set(e.id, e);
  return [...byId.values()].sort(newestFirst);
}

/** The events view. */
export function EventsView(props: { config: ReviewConfig }) {
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [events, setEvents] = useState<EventItem[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [stream, setStream] = useState<StreamState>('connecting');
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const filtersRef = useRef(filters);
  filtersRef.current = filters;

  useEffect(() => {
    let live = true;
    setLoading(true);
    getJson<EventsPage>(query(filters, null))
      .then((page) => {
        if (!live) return;
        // Keep what the stream brought meanwhile that is newer than this page's first event.
        const top = page.events[0]?.onset_utc ?? '';
        setEvents((list) =>
          mergeNewest(
            list.filter((e) => e.onset_utc > top && passes(e, filters)),
            page.events,
          ),
        );
        setCursor(page.next_cursor);
        setError(null);
      })
      .catch((e: Error) => live && setError(e.message))
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [filters]);

  useEffect(
    () =>
      listen((type, data) => {
        if (type === 'hello') {
          // The stream sends what is stored from now on: read the newest page again, so nothing
          // stored between the first read and this moment (or while reconnecting) is missed.
          getJson<EventsPage>(query(filtersRef.current, null))
            .then((page) => setEvents((list) => mergeNewest(list, page.events)))
            .catch(() => undefined);
          return;
        }
        if (type !== 'event') return;
        const event = data as EventItem;
        setEvents((list) => {
          const at = list.findIndex((e) => e.id === event.id);
          if (at >= 0) return list.map((e) => (e.id === event.id ? event : e));
          if (!passes(event, filtersRef.current)) return list;
          setFresh((s) => new Set(s).add(event.id));
          return mergeNewest(list, [event]);
        });
      }, setStream),
    [],
  );

  const more = async () => {
    if (!cursor) return;
    setLoading(true);
    try {
      const page = await getJson<EventsPage>(query(filters, cursor));
      setEvents((list) => [...list, ...page.events.filter((e) => !list.some((x) => x.id === e.id))]);
      setCursor(page.next_cursor);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setLoading(false);
    }
  };

  // On a phone the filters start folded: the events come first.
  const [narrow] = useState(() => matchMedia('(max-width: 720px)').matches);
  const [, setOpenFilters] = useState(!narrow);
  const active = (Object.keys(filters) as (keyof Filters)[]).filter((k) => filters[k] !== NO_FILTERS[k]).length;
  const set = <K extends keyof Filters>(key: K, value: Filters[K]) => setFilters((f) => ({ ...f, [key]: value }));
  const labels = [...new Set([...props.config.labels.map((l) => l.name)])];

  return (
    <main class="events">
      <details class="filters-box" open={!narrow} onToggle={(e) => setOpenFilters((e.currentTarget as HTMLDetailsElement).open)}>
        <summary>Filters{active ? ` (${active} set)` : ''}</summary>
        <form class="filters" aria-label="filters" onSubmit={(e) => e.preventDefault()}>
          <label>
            Label
            <select value={filters.label} onChange={(e) => set('label', e.currentTarget.value)} data-testid="filter-label">
              <option value="">any</option>
              {labels.map((l) => (
                <option value={l}>{labelName(l)}</option>
              ))}
            </select>
          </label>
          <label>
            Group
            <select value={filters.group} onChange={(e) => set('group', e.currentTarget.value)}>
              <option value="">any</option>
              <option value="hostile">hostile</option>
              <option value="non_hostile">non-hostile</option>
            </select>
          </label>
          <label>
            Node
            <select value={filters.node} onChange={(e) => set('node', e.currentTarget.value)}>
              <option value="">any</option>
              {props.config.nodes.map((n) => (
                <option value={n}>{n}</option>
              ))}
            </select>
          </label>
          <label>
            From (UTC)
            <input type="datetime-local" value={filters.since} onChange={(e) => set('since', e.currentTarget.value)} />
          </label>
          <label>
            To (UTC)
            <input type="datetime-local" value={filters.until} onChange={(e) => set('until', e.currentTarget.value)} />
          </label>
          <label>
            Min score
            <input
              type="number"
              min="0"
              max="1"
              step="0.05"
              inputMode="decimal"
              value={filters.minScore}
              onChange={(e) => set('minScore', e.currentTarget.value)}
            />
          </label>
          <label class="check">
            <input type="checkbox" checked={filters.unlabelled} onChange={(e) => set('unlabelled', e.currentTarget.checked)} />
            Unlabelled only
          </label>
          <button type="button" class="link" onClick={() => setFilters(NO_FILTERS)}>
            Clear
          </button>
        </form>
      </details>
      <p class="status" aria-live="polite">
        <span class={`dot ${stream}`} aria-hidden="true" />
        <span data-testid="stream-state">{stream === 'live' ? 'live' : stream}</span> · <span data-testid="event-count">{events.length}</span> events shown
        {cursor ? ' (more below)' : ''}
      </p>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <ol class="event-list" data-testid="event-list">
        {events.map((e) => {
          const clip = e.clips.find((c) => c.status === 'ok');
          return (
            <li key={e.id} data-event-id={e.id} class={fresh.has(e.id) ? 'fresh' : ''}>
              <span class="badge" style={{ background: labelColour(e.label) }}>
                {labelName(e.label)}
              </span>
              <span class={`group ${e.group}`}>{e.group === 'hostile' ? 'hostile' : 'non-hostile'}</span>
              <time dateTime={e.onset_utc} title="onset, UTC">
                {utc(e.onset_utc)}
              </time>
              <span class="score" title={`peak score ${score(e.peak_score)}, threshold ${score(e.threshold)}`}>
                <meter min={0} max={1} value={e.peak_score} /> {score(e.peak_score)}
              </span>
              <span class="node-name">{e.node_id}</span>
              <span class="clip-link">
                {clip ? <a href={`#/review?clip=${clip.id}`}>Review clip</a> : <span class="muted">{e.offset_utc ? 'no clip' : 'open…'}</span>}
              </span>
            </li>
          );
        })}
      </ol>
      {!loading && events.length === 0 && <p class="muted">No events match.</p>}
      {cursor && (
        <button type="button" onClick={more} disabled={loading}>
          {loading ? 'Loading…' : 'Load more'}
        </button>
      )}
    </main>
  );
}
