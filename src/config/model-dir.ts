/** Where models live when the config does not say (`model_dir`); no schema or loader imported, for the inference layer. */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** The default model directory: `$EARSHOT_MODEL_DIR`, else `$XDG_DATA_HOME/earshot/models`, else `~/.local/share/earshot/models`. */
export function defaultModelDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.EARSHOT_MODEL_DIR) return resolve(env.EARSHOT_MODEL_DIR);
  const dataHome = env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  return join(dataHome, 'earshot', 'models');
}
