/**
 * Node: health (capture alive, lag, outbox depth, disk, clock synchronisation), model and head, and events per
 * label per day as a small stacked bar chart (SVG). Refreshed every 5 s.
 */
import { useEffect, useState } from 'preact/hooks';
import { getJson, request } from './api.js';
import { bytes, labelColour, labelName } from './format.js';
import type { DailyStats, Health, NodeInfo } from './types.js';

const yesNo = (value: boolean | null | undefined, yes = 'yes', no = 'no') => (value === null || value === undefined ? '–' : value ? yes : no);

/** "key: value" rows of an object the API may add fields to (the head): shown as given. */
function Fields(props: { value: Record<string, unknown> }) {
  return (
    <>
      {Object.entries(props.value).map(([key, v]) => (
        <>
          <dt>{key.replace(/_/g, ' ')}</dt>
          <dd class={typeof v === 'string' && /^[0-9a-f]{64}$/.test(v) ? 'hash' : ''}>
            {v === null ? '–' : typeof v === 'object' ? JSON.stringify(v) : String(v)}
          </dd>
        </>
      ))}
    </>
  );
}

/** Events per label per day: stacked bars, a legend, the numbers in a table for screen readers. */
function DailyChart(props: { stats: DailyStats }) {
  const { days, labels } = props.stats;
  const totals = days.map((_, i) => labels.reduce((n, l) => n + l.counts[i], 0));
  const max = Math.max(1, ...totals);
  // A phone gets a narrower drawing, so its text stays readable once scaled to the screen.
  const width = matchMedia('(max-width: 720px)').matches ? 360 : 900;
  const height = 160;
  const bar = width / days.length;
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${width} ${height + 20}`} role="img" aria-label={`events per label per day, ${days[0]} to ${days.at(-1)}`}>
        {days.map((day, i) => {
          let y = height;
          return (
            <g key={day}>
              {labels.map((l) => {
                const h = (l.counts[i] / max) * (height - 10);
                y -= h;
                return h > 0 ? (
                  <rect x={i * bar + 2} y={y} width={bar - 4} height={h} fill={labelColour(l.label)}>
                    <title>{`${day} ${labelName(l.label)}: ${l.counts[i]}`}</title>
                  </rect>
                ) : null;
              })}
              {(days.length - 1 - i) % Math.ceil(days.length / 7) === 0 && (
                <text x={i * bar + bar / 2} y={height + 14} text-anchor="middle" class="axis">
                  {day.slice(5)}
                </text>
              )}
            </g>
          );
        })}
        <text x={4} y={12} class="axis">
          max {max}/day
        </text>
      </svg>
      <figcaption>
        {labels.length === 0 && <span class="muted">No events in these {days.length} days.</span>}
        {labels.map((l) => (
          <span class="legend" key={l.label}>
            <i style={{ background: labelColour(l.label) }} />
            {labelName(l.label)} {l.counts.reduce((a, b) => a + b, 0)}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}

/** The node view. */
export function NodeView() {
  const [health, setHealth] = useState<Health | null>(null);
  const [info, setInfo] = useState<NodeInfo | null>(null);
  const [stats, setStats] = useState<DailyStats | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    const load = async () => {
      try {
        // /healthz answers 503 with the same body when the node is unhealthy: both are news.
        const healthBody = (await (await request('/healthz', {}, [503])).json()) as Health;
        const [nodeBody, statsBody] = await Promise.all([getJson<NodeInfo>('/api/v1/node'), getJson<DailyStats>('/api/v1/stats/daily?days=14')]);
        if (!live) return;
        setHealth(healthBody);
        setInfo(nodeBody);
        setStats(statsBody);
        setError(null);
      } catch (e) {
        if (live) setError((e as Error).message);
      }
    };
    void load();
    const timer = setInterval(load, 5000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, []);

  if (!health || !info || !stats)
    return (
      <main class="node-view">
        {error ? (
          <p role="alert" class="error">
            {error}
          </p>
        ) : (
          <p>Loading…</p>
        )}
      </main>
    );
  const { capture, inference } = health;
  return (
    <main class="node-view">
      <section class="card" aria-labelledby="health-title">
        <h2 id="health-title">
          Health{' '}
          <span class={`pill ${health.status}`} data-testid="health-status">
            {health.status.replace('_', ' ')}
          </span>
        </h2>
        {health.status === 'no_pipeline' && <p class="muted">Served by earshot serve: no capture or model runs here.</p>}
        {health.problems.length > 0 && (
          <ul class="problems">
            {health.problems.map((p) => (
              <li>{p}</li>
            ))}
          </ul>
        )}
        <dl>
          <dt>capture alive</dt>
          <dd>{yesNo(capture.alive)}</dd>
          <dt>last audio</dt>
          <dd>{capture.last_frame_age_s === null ? '–' : `${capture.last_frame_age_s.toFixed(1)} s ago`}</dd>
          <dt>inference lag</dt>
          <dd>{inference.lag_s === null ? '–' : `${inference.lag_s.toFixed(2)} s`}</dd>
          <dt>real-time factor</dt>
          <dd>{inference.real_time_factor === null ? '–' : inference.real_time_factor.toFixed(3)}</dd>
          <dt>degraded</dt>
          <dd>{yesNo(inference.degraded)}</dd>
          <dt>outbox depth</dt>
          <dd>{health.outbox_depth === null ? 'no broker' : health.outbox_depth}</dd>
          <dt>disk free</dt>
          <dd>{bytes(health.disk_free_bytes)}</dd>
          <dt>clips today</dt>
          <dd>{bytes(health.clip_bytes_today)}</dd>
          <dt>clock</dt>
          <dd data-testid="clock">
            {health.clock_synced === null ? 'unknown' : health.clock_synced ? 'NTP synchronised' : 'not synchronised: event times may be off'}
          </dd>
          <dt>uptime</dt>
          <dd>{Math.round(health.uptime_s / 60)} min</dd>
        </dl>
      </section>
      <section class="card" aria-labelledby="model-title">
        <h2 id="model-title">Model</h2>
        <dl>
          <dt>node</dt>
          <dd>{info.node_id}</dd>
          <dt>earshot</dt>
          <dd>{info.version}</dd>
          <dt>model</dt>
          <dd>{info.model?.id ?? '–'}</dd>
          <dt>model sha256</dt>
          <dd class="hash">{info.model?.sha256 ?? '–'}</dd>
          <dt>head</dt>
          <dd>
            {info.head ? (
              <dl class="inner">
                <Fields value={{ ...info.head }} />
              </dl>
            ) : (
              'none'
            )}
          </dd>
          <dt>config hash</dt>
          <dd class="hash">{info.config_hash}</dd>
        </dl>
      </section>
      <section class="card wide" aria-labelledby="chart-title">
        <h2 id="chart-title">
          Events per day ({stats.days[0]} – {stats.days.at(-1)}, UTC)
        </h2>
        <DailyChart stats={stats} />
      </section>
    </main>
  );
}
