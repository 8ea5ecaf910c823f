/**
 * Review: the active-learning queue (uncertainty, random, top), one clip at a time: its
 * spectrogram with the event span and a moving playhead, the audio (the event span by default,
 * the whole clip on request), the event's top classes per model, and the buttons confirm, false
 * alarm, relabel, skip. Keyboard: space play/pause, 1–9 labels, f false alarm, enter confirm,
 * j/k next/previous, u undo, w whole clip.
 *
 * What a button stores (one POST /api/v1/clips/:id/labels, with the annotator's name):
 * - confirm: the event's label over the event's span (a background clip: the negative label);
 * - false alarm: the negative label (`none`: no configured sound) for the whole clip;
 * - a label: that label over the event's span (the whole clip for a background clip).
 * Labelling a clip again in the same session replaces what the session stored for it.
 */
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { ApiError, blobUrl, getJson, remove, sendJson } from './api.js';
import { labelColour, labelName, score, seconds, utc } from './format.js';
import type { Clip, ClipDetails, QueuePage, ReviewConfig, StoredLabel } from './types.js';

/** The queue's strategies, as the API names them. */
type Strategy = QueuePage['strategy'];

/** The spectrogram PNG's time axis spans x = 110…980 of its 1000 px (src/eval/plot.ts, left 110, right 20). */
const PLOT_LEFT = 0.11;
const PLOT_RIGHT = 0.02;

/** Clips fetched from the queue at a time. */
const QUEUE_PAGE = 100;

const ANNOTATOR_KEY = 'earshot.annotator';

interface UndoStep {
  clipId: string;
  index: number;
  /** Labels the action stored (undo deletes them). */
  added: StoredLabel[];
  /** Labels of this session the action replaced (undo stores them again). */
  replaced: StoredLabel[];
}

/** The review view. */
export function ReviewView(props: { config: ReviewConfig; startClip: string | null }) {
  const { config } = props;
  const [strategy, setStrategy] = useState<Strategy>('uncertainty');
  const [items, setItems] = useState<Clip[]>([]);
  const [more, setMore] = useState(false);
  const [index, setIndex] = useState(0);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [stored, setStored] = useState<Map<string, StoredLabel[]>>(new Map());
  const [undo, setUndo] = useState<UndoStep[]>([]);
  const [annotator, setAnnotator] = useState(() => localStorage.getItem(ANNOTATOR_KEY) ?? '');
  const [busy, setBusy] = useState(false);
  const seed = useRef(Math.floor(Math.random() * 2 ** 31));
  const cardRef = useRef<HTMLElement>(null);
  const annotatorRef = useRef<HTMLInputElement>(null);
  const playerRef = useRef<PlayerHandle>(null);

  const fetchQueue = useCallback(
    async (exclude: Set<string>): Promise<{ clips: Clip[]; more: boolean }> => {
      const q = new URLSearchParams({ strategy, limit: String(QUEUE_PAGE) });
      if (strategy === 'random') q.set('seed', String(seed.current));
      const page = await getJson<QueuePage>(`/api/v1/active-learning/queue?${q}`);
      return { clips: page.clips.filter((c) => !exclude.has(c.id)), more: page.next_cursor !== null };
    },
    [strategy],
  );

  // A new session per strategy: the first page of the queue (labelled clips have left it).
  useEffect(() => {
    let live = true;
    setLoading(true);
    setIndex(0);
    setUndo([]);
    setStored(new Map());
    (async () => {
      const first: Clip[] = [];
      if (props.startClip) {
        const details = await getJson<ClipDetails>(`/api/v1/clips/${props.startClip}/details`);
        first.push(details.clip);
      }
      const page = await fetchQueue(new Set(first.map((c) => c.id)));
      if (!live) return;
      setItems([...first, ...page.clips]);
      setMore(page.more);
      setError(null);
    })()
      .catch((e: Error) => live && setError(e.message))
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [fetchQueue, props.startClip]);

  const clip = items[index] as Clip | undefined;
  const labelledCount = items.filter((c) => (stored.get(c.id)?.length ?? 0) > 0).length;

  const focusCard = () => cardRef.current?.focus({ preventScroll: true });

  const go = (to: number) => {
    setNotice(null);
    setIndex(Math.max(0, Math.min(items.length, to)));
    focusCard();
  };

  /** Stores `label` for the current clip (over the event span when `span`), replacing this session's earlier labels of it. */
  const label = async (name: string, span: boolean) => {
    if (!clip || busy) return;
    if (!annotator.trim()) {
      setNotice('Enter your name as annotator first: labels say who gave them.');
      annotatorRef.current?.focus();
      return;
    }
    setBusy(true);
    try {
      const previous = stored.get(clip.id) ?? [];
      for (const old of previous) await remove(`/api/v1/clips/${clip.id}/labels/${old.id}`);
      const entry = span && clip.event ? { label: name, onset_s: clip.event.onset_in_clip_s, offset_s: clip.event.offset_in_clip_s } : { label: name };
      const answer = await sendJson<{ labels: StoredLabel[] }>(`/api/v1/clips/${clip.id}/labels`, { labels: [entry], annotator: annotator.trim() });
      setStored((m) => new Map(m).set(clip.id, answer.labels));
      setUndo((u) => [...u, { clipId: clip.id, index, added: answer.labels, replaced: previous }]);
      setNotice(`${labelName(name)} stored for clip ${index + 1}.`);
      setIndex((i) => Math.min(items.length, i + 1));
      focusCard();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const confirm = () => {
    if (!clip) return;
    void label(clip.event ? clip.event.label : config.negative_label, true);
  };
  const falseAlarm = () => void label(config.negative_label, false);

  const undoLast = async () => {
    const step = undo.at(-1);
    if (!step || busy) return;
    setBusy(true);
    try {
      for (const l of step.added) await remove(`/api/v1/clips/${step.clipId}/labels/${l.id}`);
      let restored: StoredLabel[] = [];
      if (step.replaced.length) {
        const answer = await sendJson<{ labels: StoredLabel[] }>(`/api/v1/clips/${step.clipId}/labels`, {
          labels: step.replaced.map((l) => (l.onset_s === null ? { label: l.label } : { label: l.label, onset_s: l.onset_s, offset_s: l.offset_s })),
          annotator: step.replaced[0].annotator ?? annotator.trim(),
        });
        restored = answer.labels;
      }
      setStored((m) => new Map(m).set(step.clipId, restored));
      setUndo((u) => u.slice(0, -1));
      setIndex(step.index);
      setNotice(`Undone: clip ${step.index + 1} is ${restored.length ? `back to ${labelName(restored[0].label)}` : 'unlabelled again'}.`);
      focusCard();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const loadMore = async () => {
    setLoading(true);
    try {
      const page = await fetchQueue(new Set(items.map((c) => c.id)));
      setItems((list) => [...list, ...page.clips]);
      setMore(page.more);
      if (page.clips.length === 0) setNotice('The queue has nothing more (skipped clips stay unlabelled).');
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setLoading(false);
    }
  };

  // Keyboard: shortcuts unless the person is typing, or pressing space/enter on a control.
  // A layout effect: the handler holding the current annotator and clip is in place as soon as a
  // render commits. useEffect waits for an animation frame, so a key pressed right after typing the
  // annotator's name could reach the previous handler and be refused as "no annotator".
  useLayoutEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      const target = e.target as HTMLElement;
      if (target.closest('input, select, textarea')) {
        if (e.key === 'Escape') focusCard();
        return;
      }
      if ((e.key === ' ' || e.key === 'Enter') && target.closest('button, a, audio, summary')) return;
      const digit = /^[1-9]$/.test(e.key) ? Number(e.key) : 0;
      let handled = true;
      if (e.key === ' ') playerRef.current?.toggle();
      else if (e.key === 'Enter') confirm();
      else if (e.key === 'f') falseAlarm();
      else if (digit && config.labels[digit - 1]) void label(config.labels[digit - 1].name, true);
      else if (e.key === 'j') go(index + 1);
      else if (e.key === 'k') go(index - 1);
      else if (e.key === 'u') void undoLast();
      else if (e.key === 'w') playerRef.current?.toggleWhole();
      else handled = false;
      if (handled) e.preventDefault();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  });

  const current = clip ? (stored.get(clip.id) ?? []) : [];
  return (
    <main class="review">
      <div class="review-bar">
        <label>
          Queue
          <select value={strategy} onChange={(e) => setStrategy(e.currentTarget.value as Strategy)} data-testid="strategy">
            <option value="uncertainty">uncertain first</option>
            <option value="margin">closest to threshold first</option>
            <option value="top">highest score first</option>
            <option value="random">random (with background)</option>
          </select>
        </label>
        <label>
          Annotator
          <input
            ref={annotatorRef}
            value={annotator}
            maxLength={64}
            placeholder="your name"
            data-testid="annotator"
            onInput={(e) => {
              setAnnotator(e.currentTarget.value);
              localStorage.setItem(ANNOTATOR_KEY, e.currentTarget.value);
            }}
            onKeyDown={(e) => {
              if (e.key === 'Enter') {
                e.preventDefault();
                focusCard();
              }
            }}
          />
        </label>
        <p class="progress" aria-live="polite" data-testid="progress">
          {labelledCount} of {items.length}
          {more ? '+' : ''} labelled
        </p>
      </div>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {loading && items.length === 0 && <p>Loading the queue…</p>}
      {!loading && items.length === 0 && <p class="muted">Nothing to review: every clip with a file has a label.</p>}
      {clip && (
        <article
          class="card clip"
          ref={cardRef}
          tabIndex={-1}
          aria-label={`clip ${index + 1} of ${items.length}`}
          data-clip-id={clip.id}
          data-testid="clip-card"
        >
          <header>
            <span class="position">
              {index + 1} / {items.length}
            </span>
            {clip.event ? (
              <span class="badge" style={{ background: labelColour(clip.event.label) }}>
                {labelName(clip.event.label)}
              </span>
            ) : (
              <span class="badge background">background clip</span>
            )}
            {clip.event && (
              <span class="score">
                peak {score(clip.event.peak_score)} · threshold {score(clip.event.threshold)}
              </span>
            )}
            <time dateTime={clip.start_utc}>{utc(clip.start_utc)} UTC</time>
            {current.length > 0 && (
              <span class="stored" data-testid="stored-label">
                labelled: {current.map((l) => labelName(l.label)).join(', ')}
              </span>
            )}
          </header>
          <Player key={clip.id} clip={clip} handle={playerRef} />
          <div class="side">
            <Classes clipId={clip.id} />
            {/* biome-ignore lint/a11y/useSemanticElements: a toolbar of buttons, not form fields: a fieldset would add a border and want a legend */}
            <div class="actions" role="group" aria-label="label this clip">
              <button type="button" class="primary" onClick={confirm} disabled={busy}>
                Confirm{clip.event ? ` ${labelName(clip.event.label)}` : ': nothing here'} <kbd>Enter</kbd>
              </button>
              <button type="button" class="danger" onClick={falseAlarm} disabled={busy}>
                False alarm <kbd>f</kbd>
              </button>
              <button type="button" onClick={() => go(index + 1)}>
                Skip <kbd>j</kbd>
              </button>
              <button type="button" onClick={() => go(index - 1)} disabled={index === 0}>
                Previous <kbd>k</kbd>
              </button>
              <button type="button" onClick={() => void undoLast()} disabled={undo.length === 0 || busy}>
                Undo <kbd>u</kbd>
              </button>
            </div>
            {/* biome-ignore lint/a11y/useSemanticElements: as above, a row of buttons */}
            <div class="relabel" role="group" aria-label="relabel">
              <span class="muted">Relabel as</span>
              {config.labels.slice(0, 9).map((l, i) => (
                <button type="button" onClick={() => void label(l.name, true)} disabled={busy} class={l.group}>
                  <kbd>{i + 1}</kbd> {labelName(l.name)}
                </button>
              ))}
              {config.labels.length > 9 && (
                <select
                  aria-label="other label"
                  value=""
                  onChange={(e) => {
                    if (e.currentTarget.value) void label(e.currentTarget.value, true);
                  }}
                >
                  <option value="">other label…</option>
                  {config.labels.slice(9).map((l) => (
                    <option value={l.name}>{labelName(l.name)}</option>
                  ))}
                </select>
              )}
            </div>
          </div>
        </article>
      )}
      {!loading && items.length > 0 && !clip && (
        <section class="card done" ref={cardRef} tabIndex={-1}>
          <h2>
            All {items.length} clips of this session reviewed: {labelledCount} labelled.
          </h2>
          <p>
            <button type="button" onClick={() => go(items.length - 1)}>
              Back to the last clip <kbd>k</kbd>
            </button>{' '}
            <button type="button" onClick={() => void loadMore()}>
              More from the queue
            </button>
          </p>
        </section>
      )}
      <details class="keys">
        <summary>Keyboard</summary>
        <p>
          <kbd>space</kbd> play/pause · <kbd>Enter</kbd> confirm · <kbd>f</kbd> false alarm · <kbd>1</kbd>–<kbd>9</kbd> label · <kbd>j</kbd>/<kbd>k</kbd>{' '}
          next/previous · <kbd>u</kbd> undo · <kbd>w</kbd> whole clip · <kbd>Esc</kbd> leave a text field
        </p>
      </details>
    </main>
  );
}

interface PlayerHandle {
  toggle(): void;
  toggleWhole(): void;
}

/** The clip's spectrogram and audio, fetched with the token into blob: URLs; plays the event span unless the whole clip is asked for. */
function Player(props: { clip: Clip; handle: { current: PlayerHandle | null } }) {
  const { clip } = props;
  const [audioUrl, setAudioUrl] = useState<string | null>(null);
  const [imageUrl, setImageUrl] = useState<string | null>(null);
  const [imageError, setImageError] = useState<string | null>(null);
  const [duration, setDuration] = useState<number | null>(null);
  const [whole, setWhole] = useState(!clip.event);
  const [playing, setPlaying] = useState(false);
  const audioRef = useRef<HTMLAudioElement>(null);
  const headRef = useRef<HTMLDivElement>(null);
  const wholeRef = useRef(whole);
  wholeRef.current = whole;

  const span = clip.event ? { from: clip.event.onset_in_clip_s, to: clip.event.offset_in_clip_s } : { from: 0, to: clip.duration_s };

  useEffect(() => {
    const controller = new AbortController();
    const urls: string[] = [];
    blobUrl(clip.url, controller.signal)
      .then((url) => {
        urls.push(url);
        setAudioUrl(url);
      })
      .catch(() => undefined);
    // The node draws one picture at a time and answers 503 when several wait: try again shortly.
    const picture = async (attempt: number): Promise<void> => {
      try {
        const url = await blobUrl(clip.spectrogram_url, controller.signal);
        urls.push(url);
        setImageUrl(url);
      } catch (e) {
        if (controller.signal.aborted) return;
        if (e instanceof ApiError && e.status === 503 && attempt < 8) {
          await new Promise((resolve) => setTimeout(resolve, 1500));
          return picture(attempt + 1);
        }
        setImageError((e as Error).message);
      }
    };
    void picture(0);
    return () => {
      controller.abort();
      for (const url of urls) URL.revokeObjectURL(url);
    };
  }, [clip.id]);

  // The playhead follows the audio each frame; the event span ends playback unless the whole clip is asked for.
  useEffect(() => {
    let frame = 0;
    const tick = () => {
      const audio = audioRef.current;
      if (audio && headRef.current) {
        const total = audio.duration || clip.duration_s;
        headRef.current.style.left = `${(100 * audio.currentTime) / total}%`;
        if (!wholeRef.current && !audio.paused && audio.currentTime >= span.to) audio.pause();
      }
      frame = requestAnimationFrame(tick);
    };
    frame = requestAnimationFrame(tick);
    return () => cancelAnimationFrame(frame);
  }, [clip.id]);

  const play = () => {
    const audio = audioRef.current;
    if (!audio) return;
    if (!wholeRef.current && (audio.currentTime < span.from - 0.01 || audio.currentTime >= span.to - 0.02)) audio.currentTime = span.from;
    void audio.play().catch(() => undefined);
  };
  const toggle = () => {
    const audio = audioRef.current;
    if (!audio) return;
    if (audio.paused) play();
    else audio.pause();
  };
  props.handle.current = { toggle, toggleWhole: () => setWhole((w) => !w) };

  const seek = (e: MouseEvent) => {
    const box = e.currentTarget as HTMLElement;
    const rect = box.getBoundingClientRect();
    const audio = audioRef.current;
    if (!audio) return;
    audio.currentTime = Math.max(0, Math.min(1, (e.clientX - rect.left) / rect.width)) * (audio.duration || clip.duration_s);
  };

  const pct = (t: number) => `${(100 * t) / clip.duration_s}%`;
  return (
    <div class="player">
      <div class="spectrogram">
        {imageUrl ? (
          <img src={imageUrl} alt={`spectrogram and class scores of clip ${clip.id}`} data-testid="spectrogram" width={1000} />
        ) : (
          <div class="placeholder">{imageError ? `spectrogram: ${imageError}` : 'drawing the spectrogram…'}</div>
        )}
        <div class="plot-area" style={{ left: `${PLOT_LEFT * 100}%`, right: `${PLOT_RIGHT * 100}%` }} onClick={seek} aria-hidden="true">
          {clip.event && <div class="span" style={{ left: pct(span.from), width: pct(span.to - span.from) }} />}
          <div class="playhead" ref={headRef} />
        </div>
      </div>
      <div class="audio-row">
        <button type="button" onClick={toggle} class="play" aria-label={playing ? 'pause' : 'play'}>
          {playing ? '❚❚ Pause' : '▶ Play'} <kbd>space</kbd>
        </button>
        <label class="check">
          <input type="checkbox" checked={whole} onChange={(e) => setWhole(e.currentTarget.checked)} disabled={!clip.event} />
          whole clip <kbd>w</kbd>
        </label>
        <span class="muted">
          {clip.event ? `event ${seconds(span.from)}–${seconds(span.to)} of ` : ''}
          <span data-testid="audio-duration">{duration === null ? '…' : duration.toFixed(2)}</span> s
        </span>
        {audioUrl && (
          // biome-ignore lint/a11y/useMediaCaption: the clips are field recordings of sounds: there is no speech to caption
          <audio
            ref={audioRef}
            src={audioUrl}
            preload="auto"
            controls
            data-testid="audio"
            onLoadedMetadata={(e) => setDuration(e.currentTarget.duration)}
            onPlay={() => setPlaying(true)}
            onPause={() => setPlaying(false)}
          />
        )}
      </div>
    </div>
  );
}

/** The event's classes by highest score over its patches, per model, and a head's label probabilities when the node ran one. */
function Classes(props: { clipId: string }) {
  const [details, setDetails] = useState<ClipDetails | null>(null);
  useEffect(() => {
    let live = true;
    getJson<ClipDetails>(`/api/v1/clips/${props.clipId}/details`)
      .then((d) => live && setDetails(d))
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [props.clipId]);
  if (!details) return <div class="classes muted">…</div>;
  const models = [...new Set(details.top_classes.map((c) => c.model_id))];
  return (
    <div class="classes">
      {models.length === 0 && <p class="muted">No class scores stored (a background clip).</p>}
      {models.map((model) => (
        <div class="model-scores">
          <h3>{model}</h3>
          <ul>
            {details.top_classes
              .filter((c) => c.model_id === model)
              .map((c) => (
                <li>
                  <span class="class-name">{c.class}</span>
                  <meter min={0} max={1} value={c.score} /> {score(c.score)}
                </li>
              ))}
          </ul>
        </div>
      ))}
      {details.head && details.head.length > 0 && (
        <div class="model-scores" data-testid="head-scores">
          <h3>head: label probabilities</h3>
          <ul>
            {details.head.map((h) => (
              <li>
                <span class="class-name">{labelName(h.label)}</span>
                <meter min={0} max={1} value={h.probability} /> {score(h.probability)}
              </li>
            ))}
          </ul>
        </div>
      )}
      {details.labels.length > 0 && (
        <p class="muted">Stored labels: {details.labels.map((l) => `${labelName(l.label)}${l.annotator ? ` (${l.annotator})` : ''}`).join(', ')}</p>
      )}
    </div>
  );
}
