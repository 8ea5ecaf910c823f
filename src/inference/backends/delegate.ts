/**
 * Finds a TFLite external delegate library (`model.delegate`) before handing it to tflite-node,
 * whose native side crashes on a library it cannot dlopen(). A path (with a '/') is taken as is;
 * a bare file name such as `libedgetpu.so.1` (what the `coral-tflite-delegate` npm package passes
 * for the Coral Edge TPU on Linux) is looked up where the dynamic loader would find it:
 * LD_LIBRARY_PATH, then the usual system library folders (ld.so(8) search order, without the
 * ld.so.cache, which lists the same folders on Debian / Raspberry Pi OS / JetPack).
 */
import { statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';

/** Library folders searched for a bare delegate name after LD_LIBRARY_PATH. */
export const SYSTEM_LIBRARY_DIRS: readonly string[] = [
  '/usr/local/lib',
  '/usr/lib/aarch64-linux-gnu',
  '/usr/lib/arm-linux-gnueabihf',
  '/usr/lib/x86_64-linux-gnu',
  '/lib/aarch64-linux-gnu',
  '/lib/arm-linux-gnueabihf',
  '/lib/x86_64-linux-gnu',
  '/usr/lib',
  '/lib',
];

/** Where a delegate library was looked for, and the file found (undefined when none). */
export interface DelegateLookup {
  readonly path?: string;
  /** The folders or the path tried, for the "not found" message. */
  readonly searched: readonly string[];
}

/**
 * Resolves `name` (a path, or a bare library file name) to an existing file.
 * @param env the environment whose LD_LIBRARY_PATH is searched (default: this process's)
 */
export function findDelegateLibrary(name: string, env: NodeJS.ProcessEnv = process.env): DelegateLookup {
  if (name.includes('/')) {
    const path = isAbsolute(name) ? name : resolve(name);
    return isFile(path) ? { path, searched: [path] } : { searched: [path] };
  }
  const dirs = [...(env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean), ...SYSTEM_LIBRARY_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isFile(candidate)) return { path: candidate, searched: dirs };
  }
  return { searched: dirs };
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
