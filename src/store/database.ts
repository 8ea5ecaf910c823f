/**
 * earshot's SQLite database (better-sqlite3): WAL journal, a busy timeout, and numbered migrations
 * tracked in `PRAGMA user_version`, so a database written by an older earshot is upgraded in place
 * and one written by a newer earshot is refused rather than damaged.
 */
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { EarshotError, ExitCode } from '../errors.js';
import { makeDirectories } from '../fs-checks.js';

/** One schema step. Migrations run in order, each in its own transaction, never edited once shipped. */
interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'events',
    sql: `
      CREATE TABLE events (
        id            TEXT PRIMARY KEY,          -- ULID
        node_id       TEXT NOT NULL,
        label         TEXT NOT NULL,
        grp           TEXT NOT NULL CHECK (grp IN ('hostile', 'non_hostile')),
        onset_utc     TEXT NOT NULL,             -- ISO-8601 UTC
        offset_utc    TEXT,                      -- NULL while the event is open
        onset_s       REAL NOT NULL,             -- seconds from stream start
        offset_s      REAL,
        peak_score    REAL NOT NULL,
        mean_score    REAL NOT NULL,
        peak_dbfs     REAL,                      -- NULL for digital silence (-inf)
        patch_count   INTEGER NOT NULL,
        end_reason    TEXT,                      -- released | stream_end | shutdown
        model_id      TEXT NOT NULL,
        model_sha256  TEXT NOT NULL,
        source        TEXT NOT NULL,             -- e.g. file:/path/scene.wav
        stream_id     TEXT NOT NULL              -- one per run of the pipeline
      );
      CREATE INDEX events_onset ON events (onset_utc);
      CREATE INDEX events_group_onset ON events (grp, onset_utc);
    `,
  },
  {
    version: 2,
    description: 'MQTT outbox',
    sql: `
      CREATE TABLE outbox (
        seq           INTEGER PRIMARY KEY,       -- publish order
        topic         TEXT NOT NULL,
        payload       TEXT NOT NULL,
        qos           INTEGER NOT NULL CHECK (qos IN (0, 1, 2)),
        retain        INTEGER NOT NULL CHECK (retain IN (0, 1)),
        event_id      TEXT,                      -- events.id the message describes (no FK: rows outlive pruned events)
        grp           TEXT,                      -- hostile | non_hostile: what the bound drops first
        created_utc   TEXT NOT NULL,             -- ISO-8601 UTC
        sent_utc      TEXT                       -- NULL until the broker acknowledged it (PUBACK)
      );
      CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_utc IS NULL;
    `,
  },
  {
    version: 3,
    description: 'capture gaps',
    sql: `
      CREATE TABLE gaps (
        id            INTEGER PRIMARY KEY,
        node_id       TEXT NOT NULL,
        stream_id     TEXT NOT NULL,             -- events.stream_id of the same run
        source        TEXT NOT NULL,             -- e.g. serial:/dev/ttyACM0
        start_utc     TEXT NOT NULL,             -- ISO-8601 UTC (stream start + start_s)
        start_s       REAL NOT NULL,             -- seconds from stream start
        duration_s    REAL NOT NULL,             -- audio lost
        reason        TEXT NOT NULL,             -- packet_loss | device_lost | overrun | mcu_overflow | restart
        handling      TEXT,                      -- zero_fill | restart (what the pipeline did)
        detail        TEXT                       -- JSON: packets lost, ms reported...
      );
      CREATE INDEX gaps_start ON gaps (start_utc);
    `,
  },
  {
    version: 4,
    description: 'clips, scores, labels; clock state and threshold on events',
    sql: `
      ALTER TABLE events ADD COLUMN clock_synced INTEGER;   -- 1 NTP-synchronised at onset, 0 not, NULL unknown
      ALTER TABLE events ADD COLUMN threshold REAL;         -- the label's threshold when the event opened
      ALTER TABLE events ADD COLUMN onset_sample INTEGER;   -- absolute 16 kHz stream sample indices
      ALTER TABLE events ADD COLUMN offset_sample INTEGER;
      CREATE TABLE clips (
        id            TEXT PRIMARY KEY,          -- ULID
        event_id      TEXT,                      -- events.id; NULL for background clips (no FK: a clip may outlive its pruned event)
        kind          TEXT NOT NULL CHECK (kind IN ('event', 'background')),
        grp           TEXT,                      -- the event's group (retention keeps hostile longer)
        path          TEXT NOT NULL UNIQUE,      -- relative to data_dir
        format        TEXT NOT NULL CHECK (format IN ('wav', 'flac')),
        stream_id     TEXT NOT NULL,
        start_sample  INTEGER NOT NULL,          -- absolute 16 kHz stream sample indices, [start, end)
        end_sample    INTEGER NOT NULL,
        start_s       REAL NOT NULL,             -- seconds from stream start
        start_utc     TEXT NOT NULL,             -- ISO-8601 UTC
        end_utc       TEXT NOT NULL,
        sample_rate   INTEGER NOT NULL,
        bytes         INTEGER NOT NULL,
        sha256        TEXT NOT NULL,
        gap_samples   INTEGER NOT NULL DEFAULT 0, -- samples inside the clip that were not heard (zeros)
        status        TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'missing', 'deleted')),
        created_utc   TEXT NOT NULL
      );
      CREATE INDEX clips_event ON clips (event_id);
      CREATE INDEX clips_created ON clips (created_utc);
      CREATE TABLE scores (
        event_id      TEXT NOT NULL,             -- events.id
        patch_index   INTEGER NOT NULL,
        start_s       REAL NOT NULL,             -- patch start, seconds from stream start
        rank          INTEGER NOT NULL,          -- 1 = highest
        model_id      TEXT NOT NULL,
        class         TEXT NOT NULL,
        score         REAL NOT NULL,
        PRIMARY KEY (event_id, patch_index, model_id, rank)
      );
      CREATE TABLE labels (
        id            INTEGER PRIMARY KEY,
        clip_id       TEXT NOT NULL REFERENCES clips (id) ON DELETE CASCADE,
        label         TEXT NOT NULL,
        onset_s       REAL,                      -- seconds from the clip's start; NULL = the whole clip
        offset_s      REAL,
        source        TEXT NOT NULL CHECK (source IN ('human', 'import')),
        annotator     TEXT,
        created_utc   TEXT NOT NULL
      );
      CREATE INDEX labels_clip ON labels (clip_id);
    `,
  },
  {
    version: 5,
    description: 'microphone health minutes (the baseline of src/monitor)',
    sql: `
      CREATE TABLE microphone_minutes (
        id                INTEGER PRIMARY KEY,
        minute_utc        TEXT NOT NULL,         -- ISO-8601 UTC of the minute's first sample
        stream_id         TEXT NOT NULL,         -- events.stream_id of the same run
        start_s           REAL NOT NULL,         -- seconds from stream start
        heard_s           REAL NOT NULL,         -- audio measured (less than a minute at the end or after gaps)
        noise_floor_dbfs  REAL,                  -- 10th percentile of 25 ms frame levels
        tilt_db           REAL,                  -- median log-mel tilt, bands >= 1 kHz over < 1 kHz
        clipping_ratio    REAL NOT NULL,
        dc_offset         REAL NOT NULL,
        constant_ratio    REAL NOT NULL,         -- samples in constant runs (digital silence, stuck values)
        zero_ratio        REAL NOT NULL,
        in_baseline       INTEGER NOT NULL CHECK (in_baseline IN (0, 1)),
        out               TEXT                   -- measures out of bounds, comma-separated; NULL when none
      );
      CREATE INDEX microphone_minutes_baseline ON microphone_minutes (in_baseline, id);
    `,
  },
];

/** The schema version this earshot writes. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

/**
 * Opens (creating if needed) the database at `path` and brings its schema up to date.
 *
 * `synchronous = NORMAL` in WAL mode: a power cut can lose the last transactions but never
 * corrupts the file, and it halves the fsyncs of FULL, which matters on SD cards that wear out
 * with every write (see docs/storage.md).
 *
 * @throws EarshotError when the file is not a SQLite database, is read-only, or has a schema
 *   newer than this earshot knows; the file is left untouched in every case
 */
export function openDatabase(path: string): Database.Database {
  makeDirectories(dirname(path));
  let db: Database.Database;
  try {
    db = new Database(path, { timeout: 5000 });
    db.pragma('journal_mode = WAL');
  } catch (error) {
    throw new EarshotError(`${path}: cannot open the database: ${(error as Error).message}`, ExitCode.BadInput, { cause: error });
  }
  try {
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    migrate(db, path);
  } catch (error) {
    db.close();
    if (error instanceof EarshotError) throw error;
    throw new EarshotError(`${path}: cannot prepare the database: ${(error as Error).message}`, ExitCode.BadInput, { cause: error });
  }
  return db;
}

function migrate(db: Database.Database, path: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new EarshotError(
      `${path}: database schema version ${current} is newer than this earshot (${SCHEMA_VERSION}); upgrade earshot or use another database`,
    );
  }
  for (const migration of MIGRATIONS) {
    if (migration.version <= current) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    })();
  }
}
