// `node --import ./test/helpers/load-trace.mjs ...`: appends every ES module URL the process loads
// to the file named by EARSHOT_LOAD_TRACE (one per line), so a test can see what a command loaded.
import { register } from 'node:module';

const hooks = `
import { appendFileSync } from 'node:fs';
let file;
export function initialize(data) { file = data.file; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(file, result.url + '\\n');
  return result;
}
`;
if (process.env.EARSHOT_LOAD_TRACE) register(`data:text/javascript,${encodeURIComponent(hooks)}`, { data: { file: process.env.EARSHOT_LOAD_TRACE } });
