/**
 * What the daemon listens to: any source of 16 kHz mono {@link AudioChunk}s with absolute sample
 * indices. `createSource` builds the configured one.
 */
import type { EarshotConfig } from '../config.js';
import { EarshotError } from '../errors.js';
import { SAMPLE_RATE, type AudioChunk } from '../types.js';
import { FileSource } from './file-source.js';

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
}

/** A {@link FileSource} as an {@link AudioSource}. */
class FileAudioSource implements AudioSource {
  private readonly file: FileSource;

  constructor(path: string, config: EarshotConfig['source']) {
    this.file = new FileSource(path, { pacing: config.pacing, speed: config.speed, chunkSamples: Math.round(config.chunk_seconds * SAMPLE_RATE) });
  }

  async open(): Promise<SourceDescription> {
    const info = await this.file.open();
    return {
      uri: `file:${info.path}`,
      durationSeconds: info.durationSeconds,
      details: { seconds: Number(info.durationSeconds.toFixed(3)), rate: info.originalSampleRate, channels: info.originalChannels, encoding: info.originalEncoding },
    };
  }

  chunks(): AsyncGenerator<AudioChunk, void, undefined> {
    return this.file.chunks();
  }

  stop(): void {
    this.file.stop();
  }
}

/**
 * The configured source.
 * @throws EarshotError when the config lacks what the source type needs
 */
export function createSource(config: EarshotConfig): AudioSource {
  const source = config.source;
  switch (source.type) {
    case 'file':
      if (!source.path) throw new EarshotError('source.path: required for a file source (the WAV file to listen to)');
      return new FileAudioSource(source.path, source);
  }
}
