/**
 * Builds the configured {@link AudioSource} (`source.type`: file, ALSA or serial). Apart from the
 * interface (src/capture/source.ts) so the sources can implement it without importing each other.
 */
import type { EarshotConfig } from '../config/schema.js';
import { EarshotError } from '../errors.js';
import { SAMPLE_RATE } from '../constants.js';
import type { AudioChunk } from '../types.js';
import type { Logger } from '../log.js';
import { AlsaSource } from './alsa-source.js';
import { FileSource } from './file-source.js';
import { SerialSource } from './serial/serial-source.js';
import type { AudioSource, SourceDescription } from './source.js';

/** A {@link FileSource} as an {@link AudioSource}. */
class FileAudioSource implements AudioSource {
  private readonly file: FileSource;

  constructor(path: string, config: EarshotConfig['source']) {
    this.file = new FileSource(path, {
      pacing: config.pacing,
      speed: config.speed,
      loop: config.loop,
      chunkSamples: Math.round(config.chunk_seconds * SAMPLE_RATE),
    });
  }

  async open(): Promise<SourceDescription> {
    const info = await this.file.open();
    return {
      uri: `file:${info.path}`,
      // A looping file never ends: no total to count down to.
      durationSeconds: this.file.loop ? undefined : info.durationSeconds,
      details: {
        seconds: Number(info.durationSeconds.toFixed(3)),
        rate: info.originalSampleRate,
        channels: info.originalChannels,
        encoding: info.originalEncoding,
      },
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
export function createSource(config: EarshotConfig, log?: Logger): AudioSource {
  const source = config.source;
  const chunkSamples = Math.round(source.chunk_seconds * SAMPLE_RATE);
  switch (source.type) {
    case 'file':
      if (!source.path) throw new EarshotError('source.path: required for a file source (the WAV file to listen to)');
      return new FileAudioSource(source.path, source);
    case 'alsa':
      return new AlsaSource({ device: source.device, rate: source.rate, channels: source.channels, format: source.format, chunkSamples, log });
    case 'serial':
      if (!source.path) throw new EarshotError('source.path: required for a serial source (the port, e.g. /dev/ttyACM0 or /dev/serial/by-id/...)');
      return new SerialSource({ path: source.path, baudRate: source.baud, resendWaitMs: source.resend_wait * 1000, chunkSamples, log });
  }
}
