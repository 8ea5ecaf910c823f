/**
 * The `model` command group: `model pull` (download a known model, sha256-verified), `model info`
 * and `model bench` (./model-tools.ts does their work). Heavy modules load when a command runs
 * (see ./analyze.ts).
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { KNOWN_MODELS } from '../inference/model-store.js';
import type { ActionWrapper } from './action.js';
import { BACKEND_NAMES, examples, type CommonOptions } from './common-options.js';
import type { BenchOptions } from './model-tools.js';

/** `model pull`'s options. */
export interface PullModelOptions extends CommonOptions {
  modelDir?: string;
  baseUrl?: string;
}

/**
 * Downloads model `name` into the model directory (or says it is already there).
 * @throws EarshotError for an unknown name, a failed download or a sha256 mismatch
 */
export async function pullModelCommand(name: string, options: PullModelOptions): Promise<void> {
  const { configFrom } = await import('./common.js');
  const { pullModel } = await import('../inference/model-store.js');
  const config = configFrom(options);
  const dir = options.modelDir ? resolve(options.modelDir) : config.model_dir;
  const { path, downloaded } = await pullModel(name, dir, options.baseUrl);
  process.stdout.write(`${downloaded ? 'downloaded' : 'already present'}: ${path} (sha256 ${KNOWN_MODELS[name].sha256.slice(0, 12)}…, verified)\n`);
}

/** Registers `earshot model` with `pull`, `info` and `bench`; returns the group (for more subcommands). */
export function registerModel(program: Command, action: ActionWrapper): Command {
  const model = program.command('model').description('manage models');
  // Only what a download uses: the model options of analyze/run (--model, --backend...) do nothing here.
  model
    .command('pull')
    .description('download a known model into the model directory, verifying its sha256')
    .argument('<name>', `model name (${Object.keys(KNOWN_MODELS).join(', ')})`)
    .option('--config <file>', 'YAML config file, for its model_dir (default: built-in defaults)')
    .option('--model-dir <dir>', 'where to put it (default: model_dir of the config: $EARSHOT_MODEL_DIR or ~/.local/share/earshot/models)')
    .option('--base-url <url>', 'download from this folder URL instead (also EARSHOT_MODEL_BASE_URL)')
    .addHelpText('after', examples('earshot model pull yamnet', 'earshot model pull yamnet --model-dir /var/lib/earshot/models'))
    .action(action(pullModelCommand));
  model
    .command('info')
    .description("print a model file's tensors, quantization, operators, metadata and matching manifest")
    .argument('<file>', 'model file (.tflite or .onnx)')
    .option('--manifest <id|file>', 'manifest to show (default: matched by the file sha256)')
    .option('--json', 'print JSON')
    .addHelpText('after', examples('earshot model info ../shared/models/yamnet/yamnet_waveform.tflite'))
    .action(action(async (file: string, options: { manifest?: string; json?: boolean }) => (await import('./model-tools.js')).infoCommand(file, options)));
  model
    .command('bench')
    .description(
      "time the model through earshot's front end on a WAV clip (--clip, else the configured file source, else a synthetic test signal): median and p99 invoke time and real-time factor per backend",
    )
    .argument('<file>', 'model file (.tflite or .onnx)')
    .option('--config <file>', 'YAML config (model.delegate / execution_providers, frontend.hop_frames)')
    .option('--manifest <id|file>', 'manifest id or file (default: matched by the file sha256)')
    .option('--backend <names>', `backends, comma-separated (${BACKEND_NAMES.join(', ')}, or all); default: model.backend, onnx for .onnx`)
    .option('--runs <n>', 'timed invokes per backend', '100')
    .option('--hop <seconds>', 'hop between model inputs (default: frontend.hop_frames of the config, 0.48 s)')
    .option('--threads <n>', 'inference threads (default: model.threads)')
    .option('--clip <wav>', '16 kHz WAV to feed (default: the configured source file, else a synthetic test signal)')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      examples('earshot model bench ../shared/models/yamnet/yamnet_waveform.tflite --clip ../shared/audio/scenes/dev/mixed_07.wav --backend all'),
    )
    .action(action(async (file: string, options: BenchOptions) => (await import('./model-tools.js')).benchCommand(file, options)));
  return model;
}
