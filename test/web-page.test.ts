/**
 * The review page (src/web) in a real browser (Debian's Chromium, playwright-core), against the
 * built CLI with the real model on real dev scenes:
 *
 * 1. `earshot run` (a bearer token set) replays 20 dev scenes joined into one file at 32 × real
 *    time. The page asks for the token and shows no data without it, says so for a wrong one, then
 *    lists events live: each event the daemon logs appears in the page within 2 s, and at the end
 *    the list is exactly the stored events, newest first.
 * 2. `earshot serve` over the same data dir: the events list (reloaded, filtered) matches SQLite;
 *    on the review page the audio loads with the clip's duration, the spectrogram loads, space
 *    plays the event span with a moving playhead; 25 queued clips are labelled with the keyboard
 *    alone and SQLite holds exactly those 25 labels (label, span, annotator); undo removes one;
 *    `earshot pull --strategy all` then brings the 25 labels to what `earshot train` reads.
 * No token ever goes into a URL or a cookie; the page has a CSP without inline scripts and
 * breaks none of it; another origin cannot read the API (no CORS).
 * Screenshots of every view at 1280×800 and 390×844 go to .tap/web/.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { startApiServer } from '../src/api/server.js';
import { readPulledFolder } from '../src/learn/pulled-labels.js';
import { createLogger } from '../src/log.js';
import { encodeWav16 } from '../src/store/clip-writer.js';
import { buildNode, STANDARD_CLIPS } from './helpers/api-node.js';
import { haveChromium, launchBrowser } from './helpers/browser.js';
import { earshot, REPO } from './helpers/cli.js';
import { concatSamples, DEV_SCENES, startEarshot, writeDaemonConfig, YAMNET_SPECTRA } from './helpers/fixtures.js';
import { startDaemon } from './helpers/service-daemon.js';
import { readWav16 } from './helpers/wav16.js';

const TOKEN = 'web-page-test-token-0123456789';
const ANNOTATOR = 'h4-test';
const SHOTS = join(REPO, '.tap', 'web');
const SCENES = [
  ...Array.from({ length: 16 }, (_, i) => `mixed_${String(i).padStart(2, '0')}`),
  'distractors_only_00',
  'distractors_only_01',
  'distractors_only_02',
  'distractors_only_03',
];

/** `earshot serve --config FILE --port 0` (or `--pulled DIR`), with its JSON log lines. */
function startServe(config: string, option = '--config') {
  return startEarshot(['serve', option, config, '--port', '0']);
}

t.test(
  'the review page, in Chromium, against earshot run and earshot serve',
  { skip: haveChromium ? false : '/usr/bin/chromium is not installed (apt-get install chromium)' },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'earshot-web-'));
    mkdirSync(SHOTS, { recursive: true });
    // Real audio: 20 dev scenes (15 minutes: 16 mixed, 4 of distractors only) joined into one file, so one run stores enough clips.
    const parts = SCENES.map((name) => readWav16(`${DEV_SCENES}${name}.wav`));
    const joined = concatSamples(parts);
    writeFileSync(join(dir, 'scenes.wav'), encodeWav16(joined, 16000));
    writeFileSync(join(dir, 'token'), `${TOKEN}\n`);
    const config = writeDaemonConfig(dir, {
      node_id: 'web-node',
      model: { path: YAMNET_SPECTRA },
      source: { path: 'scenes.wav', pacing: 'realtime', speed: 32 },
      // 32 × real time on a busy machine: never skip patches (the event count must not depend on the load).
      inference: { degrade_lag_seconds: 3600 },
      clips: { background_per_hour: 30 },
      api: { port: 0, token_file: 'token' },
    });

    const browser = await launchBrowser();
    t.teardown(() => browser.close());
    const { page, context } = browser;
    const requests: { url: string; authorization: string | undefined }[] = [];
    const consoleErrors: string[] = [];
    page.on('request', (r) => requests.push({ url: r.url(), authorization: r.headers().authorization }));
    page.on('console', (m) => {
      // Refused calls (401 while the token is asked, 503 spectrogram retries, the stream's reconnects
      // once the daemon is gone) are logged by Chromium too; a CSP violation or a script error is not expected.
      if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(e.message));
    /** Screenshots at 1280×800 and 390×844; with `ready`, the page is loaded again at each size (a phone loads it narrow). */
    const shot = async (name: string, ready?: string) => {
      for (const [w, h] of [
        [1280, 800],
        [390, 844],
      ]) {
        await page.setViewportSize({ width: w, height: h });
        if (ready) {
          await page.reload();
          await page.waitForSelector(ready);
        }
        await page.waitForTimeout(150);
        await page.screenshot({ path: join(SHOTS, `${name}-${w}.png`) });
      }
      await page.setViewportSize({ width: 1280, height: 800 });
      if (ready) {
        await page.reload();
        await page.waitForSelector(ready);
      }
    };
    const eventRows = () => page.$$eval('[data-event-id]', (rows) => rows.map((r) => r.getAttribute('data-event-id')!));

    // ---- 1. earshot run: token, then live events ----
    const daemon = startDaemon(config);
    t.teardown(() => daemon.child.kill('SIGKILL'));
    const url = (await daemon.log.waitFor((l) => /^api listening on /.test(l.msg), 'the api listening line', 60_000)).url as string;

    const page401 = page.waitForResponse((r) => r.url().endsWith('/api/v1/review/config'));
    await page.goto(`${url}/`);
    t.equal((await page401).status(), 401, "the page's first call is refused without the token");
    await page.waitForSelector('#token');
    t.match(await page.textContent('[data-testid=token-problem]'), /needs its API token/, 'the page asks for the token');
    t.equal((await eventRows()).length, 0, 'no data is shown without the token');
    await shot('token');
    await page.fill('#token', 'not-the-right-token-at-all');
    await page.keyboard.press('Enter');
    await page.waitForSelector('text=Wrong token');
    t.equal((await eventRows()).length, 0, 'a wrong token: the page says so and shows no data');
    await shot('token-wrong');
    await page.fill('#token', TOKEN);
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid=stream-state]:text("live")', { timeout: 10_000 });

    // Every event the daemon stores from now on must show up within 2 s of its log line.
    const seenAt = performance.now();
    const delays: number[] = [];
    const late: string[] = [];
    let next = 0;
    let ended = false;
    void daemon.exited.then(() => (ended = true));
    while (!ended || next < daemon.log.items.length) {
      const line = daemon.log.items[next];
      if (!line) {
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      next += 1;
      if (!(typeof line.id === 'string' && /^(hostile|non-hostile) event: /.test(line.msg) && line.readAtMs > seenAt)) continue;
      const remaining = Math.max(0, 2000 - (performance.now() - line.readAtMs));
      try {
        await page.waitForSelector(`[data-event-id="${line.id}"]`, { timeout: remaining, state: 'attached' });
        delays.push(performance.now() - line.readAtMs);
      } catch {
        late.push(`${line.label} ${line.id}`);
      }
    }
    const exit = await daemon.exited;
    t.comment(`live: ${delays.length} events, ${Math.round(Math.max(...delays))} ms at most from the daemon's log line to the page`);
    t.equal(exit.code, 0, `the daemon replayed the file to its end: ${daemon.stderr()}`);
    t.ok(delays.length >= 5, `${delays.length} events were stored while the page was open`);
    t.same(late, [], `each appeared within 2 s of the daemon's log line (slowest ${Math.round(Math.max(...delays))} ms)`);

    const db = new Database(join(dir, 'data', 'earshot.db'), { readonly: true, fileMustExist: true });
    t.teardown(() => db.close());
    const stored = (db.prepare('SELECT id FROM events ORDER BY onset_utc DESC, id DESC').all() as { id: string }[]).map((r) => r.id);
    t.same(await eventRows(), stored, `the live list is exactly the ${stored.length} stored events, newest first`);

    // ---- 2. earshot serve over the same data dir ----
    const serve = startServe(config);
    t.teardown(() => serve.child.kill('SIGKILL'));
    const serveUrl = (await serve.log.waitFor((l) => /^api listening on /.test(l.msg), 'serve listening', 30_000)).url as string;
    await page.goto(`${serveUrl}/`);
    // Another port is another origin: its sessionStorage is empty, the token is asked again.
    await page.waitForSelector('#token');
    await page.fill('#token', TOKEN);
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-event-id]');
    t.same(await eventRows(), stored, 'served again by earshot serve: exactly the stored events');
    await shot('events', '[data-event-id]');
    await page.selectOption('[data-testid=filter-label]', 'gunshot');
    const gunshots = (db.prepare("SELECT id FROM events WHERE label = 'gunshot' ORDER BY onset_utc DESC, id DESC").all() as { id: string }[]).map((r) => r.id);
    await page.waitForFunction((n) => document.querySelectorAll('[data-event-id]').length === n, gunshots.length);
    t.same(await eventRows(), gunshots, `filtered by label: the ${gunshots.length} gunshot events`);

    // Review: keyboard only from here.
    await page.goto(`${serveUrl}/#/review`);
    await page.waitForSelector('[data-testid=clip-card]');
    const queued = (db.prepare("SELECT COUNT(*) AS n FROM clips WHERE kind = 'event' AND status = 'ok'").get() as { n: number }).n;
    t.ok(queued >= 25, `${queued} event clips are queued`);
    await page.waitForSelector(`[data-testid=progress]:text-is("0 of ${queued} labelled")`);
    for (let i = 0; i < 20 && !(await page.evaluate(() => document.activeElement?.getAttribute('data-testid') === 'annotator')); i++)
      await page.keyboard.press('Tab');
    t.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'annotator', 'the annotator field is reached with Tab');
    await page.keyboard.type(ANNOTATOR);
    await page.keyboard.press('Enter');

    const clipRow = db.prepare(
      'SELECT c.id, c.start_sample, c.end_sample, e.label, e.onset_sample, e.offset_sample FROM clips c JOIN events e ON e.id = c.event_id WHERE c.id = ?',
    );
    const spanOf = (row: { start_sample: number; end_sample: number; onset_sample: number; offset_sample: number }) => {
      const duration = (row.end_sample - row.start_sample) / 16000;
      const clamp = (s: number) => Number(Math.min(duration, Math.max(0, (s - row.start_sample) / 16000)).toFixed(6));
      return [clamp(row.onset_sample), clamp(row.offset_sample)];
    };
    const cardClip = () => page.getAttribute('[data-testid=clip-card]', 'data-clip-id') as Promise<string>;

    // The first clip: audio with the clip's duration, the spectrogram, space plays the event span.
    const first = clipRow.get(await cardClip()) as {
      id: string;
      start_sample: number;
      end_sample: number;
      label: string;
      onset_sample: number;
      offset_sample: number;
    };
    await page.waitForFunction(() => ((document.querySelector('[data-testid=audio]') as HTMLAudioElement | null)?.duration ?? 0) > 0);
    const duration = await page.$eval('[data-testid=audio]', (a) => (a as HTMLAudioElement).duration);
    t.ok(Math.abs(duration - (first.end_sample - first.start_sample) / 16000) < 0.002, `the audio element reports the clip's duration (${duration} s)`);
    await page.waitForFunction(() => (document.querySelector('[data-testid=spectrogram]') as HTMLImageElement | null)?.naturalWidth === 1000, null, {
      timeout: 15_000,
    });
    t.pass('the spectrogram loaded (1000 px wide)');
    const [onset, offset] = spanOf(first);
    await page.keyboard.press(' ');
    await page.waitForFunction((from) => {
      const a = document.querySelector('[data-testid=audio]') as HTMLAudioElement;
      return !a.paused && a.currentTime > from;
    }, onset);
    t.pass(`space plays from the event onset (${onset} s)`);
    await page.waitForFunction(() => (document.querySelector('.playhead') as HTMLElement).style.left !== '0%');
    t.pass('the playhead moves');
    await shot('review');
    await page.waitForFunction((_to) => (document.querySelector('[data-testid=audio]') as HTMLAudioElement).paused, offset, { timeout: 10_000 });
    const stoppedAt = await page.$eval('[data-testid=audio]', (a) => (a as HTMLAudioElement).currentTime);
    t.ok(stoppedAt >= offset - 0.05 && stoppedAt < offset + 0.5, `playback stops at the event's offset (${offset} s, stopped at ${stoppedAt.toFixed(2)} s)`);

    // 25 clips, keyboard only: confirm, false alarm, confirm, 1 (gunshot), 5 (speech), again and again.
    const keys = ['Enter', 'f', 'Enter', '1', '5'];
    const expected = new Map<string, { label: string; span: number[] | null }>();
    for (let i = 0; i < 25; i++) {
      const row = clipRow.get(await cardClip()) as typeof first;
      const key = keys[i % keys.length];
      const label = key === 'Enter' ? row.label : key === 'f' ? 'none' : key === '1' ? 'gunshot' : 'speech';
      expected.set(row.id, { label, span: key === 'f' ? null : spanOf(row) });
      await page.keyboard.press(key);
      await page.waitForSelector(`[data-testid=progress]:text-is("${i + 1} of ${queued} labelled")`);
    }
    const labelRows = () =>
      db.prepare('SELECT clip_id, label, onset_s, offset_s, source, annotator FROM labels ORDER BY id').all() as {
        clip_id: string;
        label: string;
        onset_s: number | null;
        offset_s: number | null;
        source: string;
        annotator: string;
      }[];
    const check = (rows: ReturnType<typeof labelRows>, want: Map<string, { label: string; span: number[] | null }>, what: string) => {
      t.equal(rows.length, want.size, `${what}: ${want.size} labels in SQLite`);
      const wrong = rows.filter((r) => {
        const w = want.get(r.clip_id);
        return (
          !w ||
          r.label !== w.label ||
          r.annotator !== ANNOTATOR ||
          r.source !== 'human' ||
          (w.span ? r.onset_s !== w.span[0] || r.offset_s !== w.span[1] : r.onset_s !== null || r.offset_s !== null)
        );
      });
      t.same(wrong, [], `${what}: each with the label pressed, the event span (none for a false alarm) and the annotator`);
    };
    check(labelRows(), expected, 'after 25 clips');
    t.same(
      [...new Set(labelRows().map((r) => r.label))].sort(),
      [...new Set([...expected.values()].map((e) => e.label))].sort(),
      'confirm, false alarm and relabel all stored',
    );

    // Undo: the last label goes, the page is back on its clip.
    const lastClip = [...expected.keys()].at(-1)!;
    await page.keyboard.press('u');
    await page.waitForSelector(`[data-testid=progress]:text-is("24 of ${queued} labelled")`);
    const afterUndo = new Map(expected);
    afterUndo.delete(lastClip);
    check(labelRows(), afterUndo, 'after undo');
    t.equal(await cardClip(), lastClip, 'undo goes back to the clip it unlabelled');
    await page.keyboard.press(keys[24 % keys.length]);
    await page.waitForSelector(`[data-testid=progress]:text-is("25 of ${queued} labelled")`);
    check(labelRows(), expected, 'labelled again');

    await page.goto(`${serveUrl}/#/node`);
    await page.waitForSelector('[data-testid=health-status]');
    t.equal(await page.textContent('[data-testid=health-status]'), 'no pipeline', 'the node view shows health (serve runs no pipeline)');
    t.equal((await page.textContent('[data-testid=clock]'))?.trim(), 'unknown', 'and the clock state (unknown without a daemon)');
    await page.waitForSelector('.chart rect');
    await shot('node', '.chart rect');

    // What `earshot train` reads: the folder `earshot pull` writes, with its labels.tsv.
    const out = join(dir, 'pulled');
    const pulled = await earshot(['pull', '--node', serveUrl, '--out', out, '--strategy', 'all'], { env: { EARSHOT_API_TOKEN: TOKEN } });
    t.equal(pulled.code, 0, `earshot pull --strategy all: ${pulled.code === 0 ? pulled.stdout.trim() : pulled.stderr}`);
    // Per clip, the labels of its Audacity track and labels.tsv, as `earshot train --data` reads them.
    const forTrain = new Map(
      readPulledFolder(out)
        .clips.filter((c) => expected.has(c.clipId))
        .map((c) => [c.clipId, c.labels.map((l) => `${l.label} ${l.onset_s.toFixed(3)}-${l.offset_s.toFixed(3)}`).join(',')]),
    );
    const wanted = new Map([...expected].map(([id, e]) => [id, e.span ? `${e.label} ${e.span[0].toFixed(3)}-${e.span[1].toFixed(3)}` : '']));
    t.same(forTrain, wanted, "the pulled folder gives earshot train's reader the same 25 labels (a false alarm: no label)");

    // Security: the token only ever in a header; no cookie; the CSP held; no CORS.
    t.same(
      requests.filter((r) => r.url.includes(TOKEN)),
      [],
      'no request carries the token in its URL',
    );
    const apiCalls = requests.filter((r) => new URL(r.url).pathname.startsWith('/api/') && r.authorization);
    t.ok(
      apiCalls.length > 50 && apiCalls.every((r) => r.authorization === `Bearer ${TOKEN}` || r.authorization!.startsWith('Bearer ')),
      `${apiCalls.length} API calls sent the token as a header`,
    );
    t.same(await context.cookies(), [], 'no cookie');
    const index = await fetch(`${serveUrl}/`);
    const csp = index.headers.get('content-security-policy') ?? '';
    t.match(csp, /script-src 'self'/, 'the page is served with a CSP');
    t.notMatch(csp, /unsafe-inline|unsafe-eval/, 'no inline scripts allowed');
    t.same(consoleErrors, [], 'no script error and no CSP violation in the page');
    const crossOrigin = await fetch(`${serveUrl}/api/v1/node`, { headers: { origin: 'http://evil.example', authorization: `Bearer ${TOKEN}` } });
    t.equal(crossOrigin.headers.get('access-control-allow-origin'), null, 'no CORS header for another origin');
    const otherOrigin = serveUrl.replace('127.0.0.1', 'localhost');
    const blocked = await page.evaluate(async (target) => {
      try {
        await fetch(`${target}/api/v1/node`, { headers: { authorization: `Bearer ${sessionStorage.getItem('earshot.token')}` } });
        return 'read';
      } catch (error) {
        return String(error);
      }
    }, otherOrigin);
    t.match(blocked, /TypeError|Failed to fetch/, 'a page of another origin cannot read the API');

    serve.child.kill('SIGTERM');
    t.equal((await serve.exited).code, 0, 'serve stops on SIGTERM');
  },
);

t.test(
  'earshot serve --pulled: clips pulled from two nodes, labelled in the page, land where earshot train reads them',
  { skip: haveChromium ? false : 'no /usr/bin/chromium' },
  async (t) => {
    const log = createLogger({ level: 'silent', pretty: false, fd: 2 });
    const nodes = ['garage-pi', 'shed-pi'].map((nodeId) => buildNode(STANDARD_CLIPS, { nodeId }));
    const apis = await Promise.all(nodes.map((node) => startApiServer({ db: node.db, dataDir: node.dataDir, config: node.config, log })));
    t.teardown(() => Promise.all(apis.map((api) => api?.close())));
    const out = join(nodes[0].dir, 'labelling');
    const pulled = await earshot(['pull', ...apis.flatMap((api) => ['--node', api!.url]), '--out', out, '--strategy', 'all']);
    t.equal(pulled.code, 0, pulled.stderr);

    const serve = startServe(out, '--pulled');
    t.teardown(() => serve.child.kill('SIGKILL'));
    const url = (await serve.log.waitFor((l) => /^api listening on /.test(l.msg), 'serve listening', 30_000)).url as string;
    const browser = await launchBrowser();
    t.teardown(() => browser.close());
    const { page } = browser;
    await page.goto(`${url}/`);
    await page.waitForSelector('[data-event-id]');
    const nodesShown = await page.$$eval('[data-event-id] .node-name', (cells) => [...new Set(cells.map((c) => c.textContent))].sort());
    t.same(nodesShown, ['garage-pi', 'shed-pi'], 'events of both nodes are listed, each with its node');
    t.equal((await page.$$('[data-event-id]')).length, 8, 'the 8 pulled events');
    await page.screenshot({ path: join(SHOTS, 'pulled-events-1280.png') });

    await page.goto(`${url}/#/review`);
    await page.waitForSelector('[data-testid=progress]:text-is("0 of 8 labelled")');
    await page.fill('[data-testid=annotator]', ANNOTATOR);
    await page.keyboard.press('Escape');
    const want = new Map<string, string>();
    const detected = new Map<string, string>();
    for (const [i, key] of ['Enter', 'f', '2'].entries()) {
      const clip = (await page.getAttribute('[data-testid=clip-card]', 'data-clip-id'))!;
      detected.set(clip, (await page.textContent('[data-testid=clip-card] header .badge'))!.replace(/ /g, '_'));
      want.set(clip, key === 'Enter' ? detected.get(clip)! : key === 'f' ? '' : 'explosion');
      await page.keyboard.press(key);
      await page.waitForSelector(`[data-testid=progress]:text-is("${i + 1} of 8 labelled")`);
    }
    // What train reads: per clip, the labels of its track and labels.tsv (a confirmation equals what pull wrote).
    const given = () =>
      new Map(
        readPulledFolder(out)
          .clips.filter((c) => want.has(c.clipId))
          .map((c) => [c.clipId, c.labels.map((l) => l.label).join(',')]),
      );
    t.same(given(), want, "earshot train's reader finds the three labels (a confirmation, a false alarm as no label, a relabel) in the tracks and labels.tsv");
    await page.keyboard.press('u');
    await page.waitForSelector('[data-testid=progress]:text-is("2 of 8 labelled")');
    const relabelled = [...want.keys()][2];
    t.same(given(), new Map(want).set(relabelled, detected.get(relabelled)!), 'undo gives the clip back what pull wrote');
    serve.child.kill('SIGTERM');
    t.equal((await serve.exited).code, 0);
  },
);
