/**
 * `earshot model pull yamnet` against a local HTTP server serving the shared model (no internet
 * here): sha256 verified, written atomically, and used when no --model is given.
 */
import t from 'tap';
import { createReadStream, existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { earshot, hasStackTrace, SHARED } from './helpers/cli.js';
import { YAMNET_OFFICIAL, YAMNET_WAVEFORM } from './helpers/fixtures.js';

const REMOTE_NAME = 'lite-model_yamnet_classification_tflite_1.tflite';

async function serve(files: Record<string, string>) {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const file = files[(req.url ?? '').split('/').pop() ?? ''];
    if (!file) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { base: `http://127.0.0.1:${port}/models/`, requests, close: () => new Promise<void>((r) => server.close(() => r())) };
}

t.test('pull, verify, reuse, and use as the default model', async (t) => {
  const server = await serve({ [REMOTE_NAME]: YAMNET_OFFICIAL });
  t.teardown(server.close);
  const modelDir = mkdtempSync(join(tmpdir(), 'earshot-models-'));
  const env = { EARSHOT_MODEL_DIR: modelDir };

  const first = await earshot(['model', 'pull', 'yamnet', '--base-url', server.base], { env });
  t.equal(first.code, 0, first.stderr);
  t.match(first.stdout, /downloaded: .*yamnet\.tflite .*verified/);
  t.same(readdirSync(modelDir), ['yamnet.tflite'], 'only the model: no temporary file left');

  const again = await earshot(['model', 'pull', 'yamnet', '--base-url', server.base], { env });
  t.match(again.stdout, /already present/);
  t.equal(server.requests.length, 1, 'a verified model is not downloaded twice');

  const analyze = await earshot(['analyze', '--tsv', `${SHARED}audio/clips/glass_break_2.wav`], { env });
  t.equal(analyze.code, 0, analyze.stderr);
  t.match(analyze.stdout, /glass_break_2\.wav\t[\d.]+\t[\d.]+\tglass_break/, 'the pulled model (manifest yamnet, embedded labels) is used');
});

t.test('a file with the wrong sha256 is refused and not installed', async (t) => {
  const server = await serve({ [REMOTE_NAME]: YAMNET_WAVEFORM });
  t.teardown(server.close);
  const modelDir = mkdtempSync(join(tmpdir(), 'earshot-models-'));
  const result = await earshot(['model', 'pull', 'yamnet', '--base-url', server.base, '--model-dir', modelDir]);
  t.equal(result.code, 3);
  t.match(result.stderr, /sha256 mismatch: got 687f226c.*expected 10c95ea3.*not installed/);
  t.notOk(hasStackTrace(result.stderr));
  t.same(readdirSync(modelDir), [], 'nothing left behind');
});

t.test('an unreachable server and an unknown model are clear errors', async (t) => {
  const modelDir = mkdtempSync(join(tmpdir(), 'earshot-models-'));
  const down = await earshot(['model', 'pull', 'yamnet', '--base-url', 'http://127.0.0.1:9/', '--model-dir', modelDir]);
  t.equal(down.code, 3);
  t.match(down.stderr, /download failed/);
  t.notOk(existsSync(join(modelDir, 'yamnet.tflite')));
  const unknown = await earshot(['model', 'pull', 'resnet', '--model-dir', modelDir]);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /unknown model "resnet"; earshot can pull: yamnet/);
});
