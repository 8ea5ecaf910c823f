/**
 * `earshot head push HEAD.json --node URL...`, `earshot head rollback --node URL...` and
 * `earshot head status --node URL...`: deploy a head (written by `earshot train`) to running nodes
 * over their HTTP API (docs/api.md, "Heads"; docs/learning.md). Each node checks the file
 * against its own running model in a child process and swaps it in between two patches, keeping
 * the head it replaced for `rollback`. The file is checked here first (format, shapes, numbers),
 * so a broken file is refused before any upload. One line per node; exit 2 when a node refused
 * (a wrong base model, a bad file, nothing to roll back), 3 when one could not be reached.
 */
import type { Command } from 'commander';
import type { ActionWrapper } from './action.js';
import { ExitCode } from '../errors.js';

interface NodeOptions {
  node?: string[];
  token?: string;
  tokenFile?: string;
}

interface HeadAnswer {
  sha256: string;
  trained_at: string;
  clip_count: number;
  labels?: string[];
  origin?: string;
}

/** One line about a head: short sha256, when trained, on how many clips, its labels. */
function describe(head: HeadAnswer | null | undefined): string {
  if (!head) return "no head (the model's class scores alone)";
  const labels = head.labels?.length ? `; labels ${head.labels.join(', ')}` : '';
  return `head ${head.sha256.slice(0, 12)} (trained ${head.trained_at}, ${head.clip_count} clips${labels}${head.origin ? `; from ${head.origin}` : ''})`;
}

/** Runs `each` for every --node; prints one line per node; the worst exit code wins. */
async function forEachNode(options: NodeOptions, command: string, each: (client: import('./api-client.js').NodeClient) => Promise<string>): Promise<void> {
  const { EarshotError } = await import('../errors.js');
  const { NodeClient, nodeUrl, tokenFrom } = await import('./api-client.js');
  const nodes = options.node ?? [];
  if (nodes.length === 0) throw new EarshotError(`head ${command}: --node URL is required (repeat it for several nodes)`);
  const token = tokenFrom(options);
  let exitCode: ExitCode = ExitCode.Ok;
  for (const address of nodes) {
    const client = new NodeClient(nodeUrl(address), token);
    try {
      process.stdout.write(`${client.base}: ${await each(client)}\n`);
    } catch (error) {
      if (!(error instanceof EarshotError)) throw error;
      process.stderr.write(`earshot: ${error.message}\n`);
      exitCode = Math.max(exitCode, error.exitCode) as ExitCode;
    }
  }
  if (exitCode) process.exitCode = exitCode;
}

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

/** Registers `earshot head push | rollback | status`. */
export function registerHead(program: Command, wrap: ActionWrapper): void {
  const head = program.command('head').description('deploy a trained head to running nodes (push, rollback, status)');
  const nodeOptions = (command: Command) =>
    command
      .option('--node <url>', 'node API address, e.g. http://garage-pi:8466 (repeat for several nodes)', collect)
      .option('--token <token>', 'bearer token (prefer --token-file or EARSHOT_API_TOKEN: a command line is visible to other users)')
      .option('--token-file <file>', 'file whose first line is the bearer token');

  nodeOptions(
    head
      .command('push')
      .argument('<head.json>', 'head file written by earshot train')
      .description('upload a head; each node checks it against its running model and swaps it in, keeping the previous one'),
  ).action(
    wrap(async (file: string, options: NodeOptions) => {
      const { readFileSync } = await import('node:fs');
      const { EarshotError } = await import('../errors.js');
      const { parseHead } = await import('../inference/head/head-file.js');
      const { MAX_HEAD_BYTES } = await import('../inference/head/head-runtime.js');
      let bytes: Buffer;
      try {
        bytes = readFileSync(file);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        throw new EarshotError(`${file}: head file: ${code === 'ENOENT' ? 'not found' : `cannot be read (${code ?? (error as Error).message})`}`);
      }
      if (bytes.length > MAX_HEAD_BYTES)
        throw new EarshotError(`${file}: head file: ${bytes.length} bytes is over the ${MAX_HEAD_BYTES}-byte limit nodes take`);
      const text = bytes.toString('utf8');
      // The format is checked here; the base model only a node can check (it knows what it runs).
      parseHead(text, file);
      await forEachNode(options, 'push', async (client) => {
        const answer = await client.json<{ head: HeadAnswer }>('/api/v1/head', { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: bytes });
        return `now runs ${describe(answer.head)}`;
      });
    }),
  );

  nodeOptions(head.command('rollback').description('go back to the head each node ran before the last push or rollback')).action(
    wrap(async (options: NodeOptions) => {
      await forEachNode(options, 'rollback', async (client) => {
        const answer = await client.json<{ head: HeadAnswer | null }>('/api/v1/head/rollback', { method: 'POST' });
        return `rolled back: now runs ${describe(answer.head)}`;
      });
    }),
  );

  nodeOptions(head.command('status').description('the head each node runs, and the one a rollback would restore')).action(
    wrap(async (options: NodeOptions) => {
      await forEachNode(options, 'status', async (client) => {
        const answer = await client.json<{ head: HeadAnswer | null; previous: HeadAnswer | null; can_roll_back: boolean }>('/api/v1/head');
        return `runs ${describe(answer.head)}; rollback: ${answer.can_roll_back ? describe(answer.previous) : 'nothing to go back to'}`;
      });
    }),
  );
}
