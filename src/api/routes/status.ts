/**
 * `GET /healthz` (is this node listening?), `GET /metrics` (Prometheus text format, prom-client)
 * and `GET /api/v1/node` (who is this node: id, model, config hash).
 */
import { statfs } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DEFAULT_HEALTH_OPTIONS } from '../../monitor/health.js';
import { storeFaults } from '../../store/store-faults.js';
import type { ApiContext } from '../context.js';
import { ERROR_RESPONSES, HealthBodySchema, NodeInfoSchema, type HealthBody } from '../schemas.js';
import { registerMicrophoneGauges } from './microphone-metrics.js';
import type { StoreCounts } from '../queries.js';
import { bytesWrittenToday } from '../../store/clip-store.js';
import { configHash } from '../export.js';

/** earshot's version, from package.json (three folders up from src/api/routes and dist/api/routes alike). */
const VERSION = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();

/** Label values every labelled gauge shows from the start (at 0), as in the database's CHECK constraints. */
const GROUPS = ['hostile', 'non_hostile'] as const;
const CLIP_KINDS = ['event', 'background'] as const;
const CLIP_STATUSES = ['ok', 'missing', 'deleted'] as const;

/** Registers the status routes and the HTTP metrics hooks. */
export function registerStatusRoutes(app: FastifyInstance, context: ApiContext): void {
  const health = async (): Promise<HealthBody> => {
    const problems: string[] = [];
    let diskFree: number | null = null;
    try {
      const fs = await statfs(context.dataRoot);
      diskFree = fs.bavail * fs.bsize;
      if (diskFree < DEFAULT_HEALTH_OPTIONS.minFreeBytes) problems.push(`disk nearly full (${(diskFree / 1048576).toFixed(1)} MiB free)`);
    } catch (error) {
      problems.push(`cannot check free space (${(error as NodeJS.ErrnoException).code ?? error})`);
    }
    const storeProblem = storeFaults(context.queries.db).problem();
    if (storeProblem) problems.push(storeProblem);
    const live = context.live?.snapshot();
    let alive: boolean | null = null;
    let keepingUp: boolean | null = null;
    if (live) {
      alive = live.lastChunkAgeSeconds !== null && live.lastChunkAgeSeconds <= live.stallSeconds;
      keepingUp = live.lastChunkAgeSeconds === null ? null : live.realTimeFactor <= live.maxRealTimeFactor;
      if (live.lastChunkAgeSeconds === null) problems.push('waiting for audio');
      else if (!alive) problems.push(`no audio for ${live.lastChunkAgeSeconds.toFixed(1)} s`);
      if (keepingUp === false) problems.push(`inference falling behind (real-time factor ${live.realTimeFactor.toFixed(2)})`);
      if (live.inference?.degraded) problems.push(`inference degraded: every other patch skipped (lag ${live.inference.lagSeconds.toFixed(1)} s)`);
    }
    const scheduler = live?.inference ?? null;
    // A microphone that cannot hear makes the node unhealthy here (monitors), never for the systemd watchdog (a restart does not uncover a microphone).
    const microphone = context.live?.microphone?.status() ?? null;
    if (microphone) problems.push(...microphone.problems);
    return {
      status: !live ? 'no_pipeline' : problems.length ? 'unhealthy' : 'ok',
      node_id: context.config.node_id,
      version: VERSION,
      uptime_s: Math.round((Date.now() - context.startedAtMs) / 1000),
      capture: {
        alive,
        last_frame_utc: live?.lastChunkUtcMs ? new Date(live.lastChunkUtcMs).toISOString() : null,
        last_frame_age_s: live?.lastChunkAgeSeconds === null || live === undefined ? null : Number(live.lastChunkAgeSeconds.toFixed(3)),
        audio_s: live ? Number(live.audioSeconds.toFixed(3)) : null,
      },
      inference: {
        keeping_up: keepingUp,
        real_time_factor: live ? Number(live.realTimeFactor.toFixed(4)) : null,
        lag_s: scheduler ? Number(scheduler.lagSeconds.toFixed(3)) : null,
        degraded: scheduler ? scheduler.degraded : null,
        skipped_patches: scheduler ? scheduler.skippedPatches : null,
        failed_patches: scheduler ? scheduler.failedPatches : null,
        worker_restarts: scheduler ? scheduler.workerRestarts : null,
      },
      outbox_depth: live?.outboxDepth ?? null,
      clock_synced: context.live?.clockSynced?.() ?? null,
      clip_bytes_today: bytesWrittenToday(context.queries.db),
      disk_free_bytes: diskFree,
      // The head run after the model (src/inference/head/), null without one.
      head: context.heads?.current() ?? null,
      microphone,
      problems,
    };
  };

  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  // The same body with 200 and 503: a monitor reads the code, a person the problems.
  api.get('/healthz', { schema: { response: { 200: HealthBodySchema, 503: HealthBodySchema, ...ERROR_RESPONSES } } }, async (_request, reply) => {
    const body = await health();
    // Monitors read the status code: 200 only when the node is really listening.
    return reply.code(body.status === 'ok' ? 200 : 503).send(body);
  });

  api.get('/api/v1/node', { schema: { response: { 200: NodeInfoSchema, ...ERROR_RESPONSES } } }, async () => ({
    node_id: context.config.node_id,
    version: VERSION,
    api: 1,
    model: context.model,
    // The head run after the model (null without one): docs/api.md.
    head: context.heads?.current() ?? null,
    config_hash: configHash(context.config),
  }));

  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: 'earshot_http_requests_total',
    help: 'HTTP API requests answered, by route and status code',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  const durations = new Histogram({
    name: 'earshot_http_request_duration_seconds',
    help: 'HTTP API response time (until the headers are sent for streams)',
    labelNames: ['route'],
    buckets: [0.005, 0.02, 0.1, 0.5, 2, 10],
    registers: [registry],
  });
  // One scrape reads the counts once (four gauges use them), not once per gauge.
  let counted: { atMs: number; value: StoreCounts } | null = null;
  const queries = {
    counts: (): StoreCounts => {
      const now = Date.now();
      if (!counted || now - counted.atMs > 1000) counted = { atMs: now, value: context.queries.counts() };
      return counted.value;
    },
  };
  new Gauge({
    name: 'earshot_events_stored',
    help: 'Events in the database, by group',
    labelNames: ['group'],
    registers: [registry],
    collect() {
      this.reset();
      // Every series from the first scrape, at 0 until it counts something (a rate() needs a start).
      for (const group of GROUPS) this.set({ group }, 0);
      for (const row of queries.counts().events) this.set({ group: row.group }, row.count);
    },
  });
  new Gauge({
    name: 'earshot_clips_stored',
    help: 'Clip rows in the database, by kind and status (ok: the file is there)',
    labelNames: ['kind', 'status'],
    registers: [registry],
    collect() {
      this.reset();
      for (const kind of CLIP_KINDS) for (const status of CLIP_STATUSES) this.set({ kind, status }, 0);
      for (const row of queries.counts().clips) this.set({ kind: row.kind, status: row.status }, row.count);
    },
  });
  new Gauge({
    name: 'earshot_clip_bytes',
    help: 'Bytes of clip files present (status ok), by kind',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      this.reset();
      for (const kind of CLIP_KINDS) this.set({ kind }, 0);
      for (const row of queries.counts().clips) if (row.status === 'ok') this.inc({ kind: row.kind }, row.bytes);
    },
  });
  new Gauge({
    name: 'earshot_labels_stored',
    help: 'Labels in the database',
    registers: [registry],
    collect() {
      this.set(queries.counts().labels);
    },
  });
  new Gauge({
    name: 'earshot_disk_free_bytes',
    help: "Free bytes on the data directory's file system",
    registers: [registry],
    async collect() {
      try {
        const fs = await statfs(context.dataRoot);
        this.set(fs.bavail * fs.bsize);
      } catch {
        // Unknown this time: the previous value stays.
      }
    },
  });
  const faults = storeFaults(context.queries.db);
  new Gauge({
    name: 'earshot_disk_full',
    help: '1 while the store cannot write for lack of space or free space is below retention.min_free_bytes (the disk_full problem)',
    registers: [registry],
    collect() {
      this.set(faults.problem() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'earshot_store_faults',
    help: 'Since start: store writes that failed (all, disk_full), event messages published to MQTT without the outbox, clips dropped for space',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      this.set({ kind: 'failed_writes' }, faults.counts.failedWrites);
      this.set({ kind: 'disk_full_writes' }, faults.counts.diskFullWrites);
      this.set({ kind: 'direct_publishes' }, faults.counts.directPublishes);
      this.set({ kind: 'clips_dropped' }, faults.counts.clipsDropped);
    },
  });
  if (context.live) {
    const live = context.live;
    new Gauge({
      name: 'earshot_audio_seconds',
      help: 'Seconds of audio through the pipeline since start',
      registers: [registry],
      collect() {
        this.set(live.snapshot().audioSeconds);
      },
    });
    new Gauge({
      name: 'earshot_real_time_factor',
      help: 'Pipeline processing time / audio time over the last 10 s (above 1: falling behind)',
      registers: [registry],
      collect() {
        this.set(live.snapshot().realTimeFactor);
      },
    });
    new Gauge({
      name: 'earshot_last_audio_age_seconds',
      help: 'Seconds since the last audio chunk was processed (-1 before the first)',
      registers: [registry],
      collect() {
        this.set(live.snapshot().lastChunkAgeSeconds ?? -1);
      },
    });
    const scheduler = () => live.snapshot().inference;
    new Gauge({
      name: 'earshot_inference_lag_seconds',
      help: 'Seconds between the newest captured sample and the newest patch dealt with (-1 before inference starts)',
      registers: [registry],
      collect() {
        this.set(scheduler()?.lagSeconds ?? -1);
      },
    });
    new Gauge({
      name: 'earshot_inference_degraded',
      help: '1 while only every other patch is classified (inference behind real time)',
      registers: [registry],
      collect() {
        this.set(scheduler()?.degraded ? 1 : 0);
      },
    });
    new Gauge({
      name: 'earshot_patches',
      help: 'Patches since start, by outcome (classified, skipped by the degrade policy, failed: the model threw or its worker died)',
      labelNames: ['outcome'],
      registers: [registry],
      collect() {
        const s = scheduler();
        // At 0 before inference starts: every series exists from the first scrape.
        this.set({ outcome: 'classified' }, s?.classifiedPatches ?? 0);
        this.set({ outcome: 'skipped' }, s?.skippedPatches ?? 0);
        this.set({ outcome: 'failed' }, s?.failedPatches ?? 0);
      },
    });
    registerMicrophoneGauges(registry, () => context.live?.microphone?.status() ?? null);
    new Gauge({
      name: 'earshot_worker_restarts',
      help: 'Inference worker restarts since start',
      registers: [registry],
      collect() {
        this.set(scheduler()?.workerRestarts ?? 0);
      },
    });
    new Gauge({
      name: 'earshot_outbox_depth',
      help: 'Unsent MQTT outbox messages (-1 without a broker)',
      registers: [registry],
      collect() {
        this.set(live.snapshot().outboxDepth ?? -1);
      },
    });
  }

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    durations.observe({ route }, reply.elapsedTime / 1000);
  });

  app.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()));
}
