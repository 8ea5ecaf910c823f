/**
 * The microphone health gauges of `/metrics` (docs/microphone.md): the last minute's measures,
 * the baseline, and one 0/1 gauge per measure for the `microphone` problem.
 */
import { Gauge, type Registry } from 'prom-client';
import type { MicrophoneHealthJson } from '../../monitor/microphone-status.js';

const MEASURES = ['noise_floor', 'tilt', 'clipping', 'dc_offset', 'digital_silence'] as const;

/** Registers the gauges; `read` gives the current status, or null when the monitor is off. */
export function registerMicrophoneGauges(registry: Registry, read: () => MicrophoneHealthJson | null): void {
  new Gauge({
    name: 'earshot_microphone_measure',
    help: 'Last whole minute of audio: noise_floor_dbfs (10th percentile of 25 ms frame levels), tilt_db (log-mel bands from 1 kHz over below), clipping_ratio, dc_offset, constant_ratio (digital silence), zero_ratio',
    labelNames: ['measure'],
    registers: [registry],
    collect() {
      this.reset();
      const minute = read()?.last_minute;
      if (!minute) return;
      for (const key of ['noise_floor_dbfs', 'tilt_db', 'clipping_ratio', 'dc_offset', 'constant_ratio', 'zero_ratio'] as const) {
        const value = minute[key];
        if (value !== null) this.set({ measure: key }, value);
      }
    },
  });
  new Gauge({
    name: 'earshot_microphone_baseline',
    help: 'The baseline of recent normal minutes: median and robust sigma (1.4826 MAD) of noise_floor_dbfs and tilt_db, and its length in minutes',
    labelNames: ['statistic'],
    registers: [registry],
    collect() {
      this.reset();
      const b = read()?.baseline;
      if (!b) return;
      this.set({ statistic: 'minutes' }, b.minutes);
      for (const [key, value] of [
        ['noise_floor_dbfs', b.noise_floor_dbfs],
        ['noise_floor_sigma_db', b.noise_floor_sigma_db],
        ['tilt_db', b.tilt_db],
        ['tilt_sigma_db', b.tilt_sigma_db],
      ] as const) {
        if (value !== null) this.set({ statistic: key }, value);
      }
    },
  });
  new Gauge({
    name: 'earshot_microphone_problem',
    help: '1 while the microphone problem is raised for the measure (noise_floor, tilt, clipping, dc_offset, digital_silence), else 0',
    labelNames: ['measure'],
    registers: [registry],
    collect() {
      this.reset();
      const status = read();
      if (!status) return;
      for (const measure of MEASURES) this.set({ measure }, status.raised.some((r) => r.measure === measure) ? 1 : 0);
    },
  });
}
