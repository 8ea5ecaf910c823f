/**
 * What the daemon listens to: any source of 16 kHz mono {@link AudioChunk}s with absolute sample
 * indices. Types only: the ALSA and serial sources implement {@link AudioSource}, and
 * src/capture/create-source.ts builds the configured one (a file through a small adapter there).
 */
import type { AudioChunk } from '../types.js';
import type { CaptureGap } from './timeline.js';

/** What a source says about itself once open, for logs. */
export interface SourceDescription {
  /** e.g. `file:/srv/scene.wav`, `alsa:hw:1,0`, `serial:/dev/ttyACM0`. */
  readonly uri: string;
  /** Seconds of audio the source will deliver, when known (files); undefined for live sources. */
  readonly durationSeconds?: number;
  /** Extra fields for the log line (rate, channels, encoding...). */
  readonly details: Record<string, unknown>;
}

/**
 * A source of audio. Lifecycle: `open()` → iterate `chunks()` once → `stop()` ends the iteration
 * at the next chunk boundary. Chunk indices only grow; a gap advances them by the lost duration.
 */
export interface AudioSource {
  open(): Promise<SourceDescription>;
  chunks(): AsyncGenerator<AudioChunk, void, undefined>;
  stop(): void;
  /**
   * Live sources: the gaps (lost audio) recorded since the last call, oldest first; the chunk
   * after a gap starts past it. Files have none.
   */
  takeGaps?(): CaptureGap[];
  /** Live sources: counters for the closing log line (packets, CRC errors, overruns...). */
  counters?(): Record<string, number>;
}
