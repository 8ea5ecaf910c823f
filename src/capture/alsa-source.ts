/**
 * A microphone through ALSA's `arecord`, as an {@link AudioSource}.
 *
 * Why our own spawn of arecord rather than `node-record-lpcm16`: that package fixes the format to
 * S16_LE WAV and swallows arecord's stderr, and earshot needs stderr (overruns, busy and missing
 * devices are reported only there), raw S32_LE/FLOAT_LE capture, and arecord's exit to detect an
 * unplugged device and reconnect.
 *
 * Faults handled:
 * - device missing at start (a USB microphone not enumerated yet): retried with backoff (0.5 s
 *   doubling to 5 s), one log line, not an exit;
 * - device busy (`Device or resource busy`): an {@link EarshotError} at start naming the likely
 *   holder (PulseAudio/PipeWire); mid-run it is retried like a missing device;
 * - unplugged mid-run: arecord exits (read error) or stops delivering; a 2 s watchdog kills a
 *   silent arecord; the stream keeps its index, the lost wall-clock time becomes a gap;
 * - overruns (`overrun!!! (at least N ms long)` on stderr): counted, logged and recorded as gaps
 *   of N ms.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { EarshotError, ExitCode } from '../errors.js';
import type { Logger } from '../log.js';
import { SAMPLE_RATE } from '../constants.js';
import type { AudioChunk } from '../types.js';
import { LiveQueue } from './live-queue.js';
import type { AudioSource, SourceDescription } from './source.js';
import { TimelineAssembler, type CaptureGap } from './timeline.js';

/** ALSA sample formats earshot captures. */
export type AlsaFormat = 'S16_LE' | 'S32_LE' | 'FLOAT_LE';

/** Options for {@link AlsaSource}. */
export interface AlsaSourceOptions {
  /** ALSA PCM name: `default`, `hw:1,0`, `plughw:CARD=Device,DEV=0`... */
  device: string;
  /** Capture rate in Hz. */
  rate: number;
  channels: number;
  format: AlsaFormat;
  /** Samples per delivered chunk at 16 kHz. */
  chunkSamples: number;
  /** Stop after this many seconds of capture (arecord `-d`; default: run until stopped). */
  durationSeconds?: number;
  /** Seconds without data before arecord is presumed stuck and restarted (default 2). */
  watchdogSeconds?: number;
  /** The arecord executable (default `arecord`). */
  arecord?: string;
  /** Extra environment for arecord (e.g. ALSA_CONFIG_PATH). */
  env?: NodeJS.ProcessEnv;
  log?: Logger;
}

/** How an arecord error line reads to a user. */
export type AlsaFault = { kind: 'busy' | 'missing' | 'other'; message: string } | { kind: 'overrun'; milliseconds: number };

/**
 * Classifies one line of arecord's stderr.
 * @returns the fault, or null for a harmless line
 */
export function classifyArecordLine(line: string): AlsaFault | null {
  const overrun = /overrun!!! \(at least ([\d.]+) ms long\)/.exec(line);
  if (overrun) return { kind: 'overrun', milliseconds: Number(overrun[1]) };
  if (/Device or resource busy/i.test(line)) return { kind: 'busy', message: line.trim() };
  if (/No such (file or directory|device)|Unknown PCM|cannot find card|audio open error/i.test(line)) return { kind: 'missing', message: line.trim() };
  if (/error/i.test(line)) return { kind: 'other', message: line.trim() };
  return null;
}

const BYTES: Record<AlsaFormat, number> = { S16_LE: 2, S32_LE: 4, FLOAT_LE: 4 };

type Input = { kind: 'data'; bytes: Buffer } | { kind: 'exit'; code: number | null; signal: string | null; stderr: string };

/** See the module notes. */
export class AlsaSource implements AudioSource {
  private readonly timeline: TimelineAssembler;
  private readonly queue = new LiveQueue<Input>();
  private child: ChildProcessByStdio<null, Readable, Readable> | null = null;
  private stopped = false;
  private queuedBytes = 0;
  private carry = Buffer.alloc(0);
  /** Overruns reported by arecord. */
  overruns = 0;
  /** Times arecord was restarted after a device fault. */
  restarts = 0;

  constructor(private readonly options: AlsaSourceOptions) {
    this.timeline = new TimelineAssembler(options.chunkSamples);
  }

  /** The running arecord's process id (for tests and diagnostics). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** 16 kHz samples recorded as gaps so far. */
  get lostSamples(): number {
    return this.timeline.lostSamples;
  }

  async open(): Promise<SourceDescription> {
    const { device, rate, channels, format } = this.options;
    return { uri: `alsa:${device}`, details: { rate, channels, format } };
  }

  /** Overruns, restarts and lost samples, for the closing log line. */
  counters(): Record<string, number> {
    return { overruns: this.overruns, restarts: this.restarts, lost_samples: this.timeline.lostSamples };
  }

  takeGaps(): CaptureGap[] {
    return this.timeline.takeGaps();
  }

  stop(): void {
    this.stopped = true;
    this.child?.kill('SIGTERM');
    this.queue.wake();
  }

  async *chunks(): AsyncGenerator<AudioChunk, void, undefined> {
    const watchdogMs = (this.options.watchdogSeconds ?? 2) * 1000;
    let backoff = 500;
    let everDelivered = false;
    let warned = false;
    let lastDataAt = -1;
    try {
      while (!this.stopped) {
        this.spawnArecord();
        let gotData = false;
        let lastSeen = performance.now();
        let exit: Extract<Input, { kind: 'exit' }> | null = null;
        while (!this.stopped && !exit) {
          const inputs = await this.queue.take(250);
          if (inputs.length === 0 && performance.now() - lastSeen > watchdogMs && this.child) {
            this.options.log?.warn({ device: this.options.device, silent_s: watchdogMs / 1000 }, 'no audio from arecord; restarting it');
            this.child.kill('SIGKILL');
            lastSeen = performance.now();
          }
          for (const input of inputs) {
            if (input.kind === 'exit') {
              exit = input;
              break;
            }
            lastSeen = performance.now();
            if (!gotData && lastDataAt >= 0) {
              // Back after a fault: the wall-clock time we heard nothing is a gap.
              const away = Math.round(((lastSeen - lastDataAt) / 1000) * SAMPLE_RATE);
              for (const chunk of this.timeline.gap(away, 'device_lost', { restarts: this.restarts })) yield chunk;
              this.options.log?.info({ device: this.options.device }, 'ALSA device back');
            }
            gotData = true;
            everDelivered = true;
            warned = false;
            backoff = 500;
            for (const chunk of await this.handleBytes(input.bytes)) yield chunk;
            lastDataAt = performance.now();
          }
        }
        if (this.stopped) break;
        if (exit && exit.code === 0 && this.options.durationSeconds !== undefined) break;
        const fault = exit ? lastFault(exit.stderr) : null;
        if (fault?.kind === 'busy' && !everDelivered) {
          throw new EarshotError(
            `source.device: ALSA device '${this.options.device}' is busy (${fault.message}); another program holds it, most likely PulseAudio or PipeWire: capture through their ALSA plugin (device 'pulse' or 'pipewire'), or stop them (systemctl --user stop pipewire pipewire-pulse pulseaudio)`,
            ExitCode.Environment,
          );
        }
        for (const chunk of this.timeline.flush()) yield chunk;
        this.restarts += 1;
        if (!warned) {
          this.options.log?.warn(
            {
              device: this.options.device,
              error: fault && 'message' in fault ? fault.message : `arecord exited (${exit?.code ?? exit?.signal})`,
              retry_s: backoff / 1000,
            },
            gotData || everDelivered ? 'ALSA device lost; keeping the stream and retrying' : 'ALSA device not available; retrying with backoff',
          );
          warned = true;
        }
        await this.queue.take(backoff);
        backoff = Math.min(5000, backoff * 2);
      }
      for (const chunk of this.timeline.flush()) yield chunk;
    } finally {
      this.child?.kill('SIGTERM');
      this.timeline.destroy();
    }
  }

  private spawnArecord(): void {
    const { device, rate, channels, format } = this.options;
    const args = ['-q', '-D', device, '-f', format, '-r', String(rate), '-c', String(channels), '-t', 'raw'];
    if (this.options.durationSeconds !== undefined) args.push('-d', String(this.options.durationSeconds));
    const child = spawn(this.options.arecord ?? 'arecord', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.options.env } });
    this.child = child;
    this.carry = Buffer.alloc(0);
    let stderr = '';
    child.stdout.on('data', (bytes: Buffer) => {
      this.queuedBytes += bytes.length;
      // Backpressure: a consumer slower than the device (or a non-pacing ALSA plugin) must not grow memory.
      if (this.queuedBytes > 1 << 20) child.stdout.pause();
      this.queue.push({ kind: 'data', bytes });
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      stderr = (stderr + text).slice(-4096);
      for (const line of text.split('\n')) {
        const fault = classifyArecordLine(line);
        if (fault?.kind === 'overrun') {
          this.overruns += 1;
          this.options.log?.warn({ device, lost_ms: fault.milliseconds, overruns: this.overruns }, 'ALSA overrun');
          this.pendingOverrunMs += fault.milliseconds;
        }
      }
    });
    child.once('error', (error) => this.queue.push({ kind: 'exit', code: null, signal: null, stderr: `${stderr}\n${error.message}` }));
    child.once('close', (code, signal) => {
      if (this.child === child) this.child = null;
      this.queue.push({ kind: 'exit', code, signal, stderr });
    });
  }

  private pendingOverrunMs = 0;

  private async handleBytes(bytes: Buffer): Promise<AudioChunk[]> {
    this.queuedBytes -= bytes.length;
    if (this.queuedBytes <= 1 << 19) this.child?.stdout.resume();
    const out: AudioChunk[] = [];
    if (this.pendingOverrunMs > 0) {
      out.push(...this.timeline.gap((this.pendingOverrunMs / 1000) * SAMPLE_RATE, 'overrun', { ms: this.pendingOverrunMs }));
      this.pendingOverrunMs = 0;
    }
    const { channels, format, rate } = this.options;
    const frameBytes = BYTES[format] * channels;
    const data = this.carry.length ? Buffer.concat([this.carry, bytes]) : bytes;
    const frames = Math.floor(data.length / frameBytes);
    this.carry = Buffer.from(data.subarray(frames * frameBytes));
    const samples = new Float32Array(frames * channels);
    for (let i = 0; i < samples.length; i++) {
      const at = i * BYTES[format];
      samples[i] = format === 'S16_LE' ? data.readInt16LE(at) / 32768 : format === 'S32_LE' ? data.readInt32LE(at) / 2147483648 : data.readFloatLE(at);
    }
    out.push(...(await this.timeline.audio(samples, rate, channels)));
    return out;
  }
}

function lastFault(stderr: string): AlsaFault | null {
  let found: AlsaFault | null = null;
  for (const line of stderr.split('\n')) {
    const fault = classifyArecordLine(line);
    if (fault && fault.kind !== 'overrun') found = fault;
  }
  return found;
}
