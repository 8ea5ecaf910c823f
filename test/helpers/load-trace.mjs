// `node --import ./test/helpers/load-trace.mjs ...`: appends every module the process loads to the
// file named by EARSHOT_LOAD_TRACE, one per line as `<threadId>\t<url or path>`: ES modules as the
// loader resolves them (file: URLs), CommonJS files as require() loads them (paths). Thread 0 is
// the main thread; a worker thread (the inference worker) runs this file too, with its own id. So
// a test can see what a command loaded, and in which thread.
import { appendFileSync } from 'node:fs';
import Module, { register } from 'node:module';
import { threadId } from 'node:worker_threads';

const hooks = `
import { appendFileSync } from 'node:fs';
let file;
let thread;
export function initialize(data) { file = data.file; thread = data.threadId; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(file, thread + '\\t' + result.url + '\\n');
  return result;
}
`;
const file = process.env.EARSHOT_LOAD_TRACE;
if (file) {
  register(`data:text/javascript,${encodeURIComponent(hooks)}`, { data: { file, threadId } });
  // require() inside CommonJS packages (and createRequire) bypasses the hooks above.
  const load = Module._load;
  Module._load = function (...args) {
    const [request, parent, isMain] = args;
    const loaded = load.apply(this, args);
    try {
      appendFileSync(file, `${threadId}\t${Module._resolveFilename(request, parent, isMain)}\n`);
    } catch {
      // a builtin or a request that no longer resolves: nothing to record
    }
    return loaded;
  };
}
