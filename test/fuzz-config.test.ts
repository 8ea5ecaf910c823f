/**
 * Config fuzz (issue 24, "Suites that stay"): 600 seeded mutations of config/example.yaml — values
 * replaced by hostile ones (huge and negative numbers, NaN, Infinity, NUL bytes, long strings,
 * lists, maps, anchors), lines deleted, duplicated, indented or truncated, extra documents, deep
 * nesting — parsed exactly as `--config` parses them (`parseConfigText`) and any error turned into
 * an exit code by the CLI's own `errorOutcome`. Every case must end as a valid config or exit 2,
 * in one line per problem naming the config file, with no stack. A sample of 3 runs through the
 * real CLI.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { errorOutcome } from '../src/cli/action.js';
import { parseConfigText } from '../src/config/load.js';
import { mulberry32 } from '../src/random.js';
import { earshot, hasStackTrace, REPO } from './helpers/cli.js';

const CASES = 600;
const PROCESS_SAMPLE = 3;
const example = readFileSync(join(REPO, 'config/example.yaml'), 'utf8');
const lines = example.split('\n');

const HOSTILE_VALUES = [
  '0',
  '-1',
  '1e309',
  '-1e309',
  '.inf',
  '-.inf',
  '.nan',
  'NaN',
  '99999999999999999999999',
  '0x7fffffff',
  '1.5',
  '-0',
  '""',
  "''",
  'null',
  '~',
  'true',
  'no',
  '"\\0"',
  '"a\\0b"',
  `"${'x'.repeat(5000)}"`,
  '[]',
  '{}',
  '[1, [2, [3]]]',
  '{a: {b: {c: 1}}}',
  '/dev/zero',
  '/proc/earshot',
  '/etc/passwd',
  '../../../../etc',
  '"\\u202e"',
  '&anchor 5',
  '*undefined_alias',
  '!!binary aGVsbG8=',
  '2024-01-01',
  '"%s%s%s"',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal `${HOME}` is one of the hostile values
  '"${HOME}"',
  '|\n  block',
  '- a\n- b',
];

function mutate(random: () => number): { text: string; what: string } {
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)];
  const out = [...lines];
  const edits: string[] = [];
  const count = 1 + Math.floor(random() * 3);
  for (let i = 0; i < count; i++) {
    const kind = random();
    const at = Math.floor(random() * out.length);
    const line = out[at] ?? '';
    const valueAt = line.indexOf(': ');
    if (kind < 0.55 && valueAt > 0 && !line.trimStart().startsWith('#')) {
      const value = pick(HOSTILE_VALUES);
      out[at] = `${line.slice(0, valueAt + 2)}${value}`;
      edits.push(`line ${at + 1} = ${value.slice(0, 20)}`);
    } else if (kind < 0.65) {
      out.splice(at, 1);
      edits.push(`delete ${at + 1}`);
    } else if (kind < 0.72) {
      out.splice(at, 0, line);
      edits.push(`duplicate ${at + 1}`);
    } else if (kind < 0.78) {
      out[at] = `${' '.repeat(1 + Math.floor(random() * 5))}${line}`;
      edits.push(`indent ${at + 1}`);
    } else if (kind < 0.84) {
      out.splice(at);
      edits.push(`truncate at ${at + 1}`);
    } else if (kind < 0.88) {
      out.push('---', 'node_id: second');
      edits.push('second document');
    } else if (kind < 0.92) {
      const depth = 10 + Math.floor(random() * 4000);
      out.push(`deep: ${'['.repeat(depth)}${']'.repeat(depth)}`);
      edits.push(`nest ${depth}`);
    } else if (kind < 0.96) {
      out[at] = line.slice(0, Math.floor(random() * line.length));
      edits.push(`cut line ${at + 1}`);
    } else {
      out.push(`${pick(['unknown_key', 'source', 'api', 'mqtt', 'x'.repeat(300)])}: ${pick(HOSTILE_VALUES)}`);
      edits.push('extra key');
    }
  }
  return { text: out.join('\n'), what: edits.join(', ') };
}

/** What `--config FILE` makes of a text, as the CLI would end. */
function asTheCliWould(text: string, name: string): { exitCode: number; stderr: string } {
  try {
    parseConfigText(text, name, '/srv/earshot');
    return { exitCode: 0, stderr: '' };
  } catch (error) {
    return errorOutcome(error);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'earshot-fuzz-config-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test(`${CASES} mutated example configs: valid, or exit 2 naming the file`, async (t) => {
  const random = mulberry32(2401);
  const failures: string[] = [];
  const outcomes = new Map<number, number>();
  const name = 'mutated.yaml';
  for (let i = 0; i < CASES; i++) {
    const { text, what } = mutate(random);
    const result = asTheCliWould(text, name);
    outcomes.set(result.exitCode, (outcomes.get(result.exitCode) ?? 0) + 1);
    const problemLines = result.stderr.trimEnd().split('\n').filter(Boolean);
    const everyLineNamesFile = problemLines.every((l) => l.startsWith(`earshot: ${name}: `));
    if (![0, 2].includes(result.exitCode) || hasStackTrace(result.stderr) || !everyLineNamesFile || problemLines.some((l) => l.length > 2000)) {
      failures.push(`case ${i} (${what}): exit ${result.exitCode}: ${result.stderr.slice(0, 300)}`);
    }
  }
  t.same(failures, [], 'every case failed safe');
  t.ok((outcomes.get(2) ?? 0) > CASES / 3 && (outcomes.get(0) ?? 0) > 20, `both outcomes seen (valid ${outcomes.get(0) ?? 0}, exit 2 ${outcomes.get(2) ?? 0})`);
  t.comment(`tried ${CASES}: valid ${outcomes.get(0) ?? 0}, exit 2 ${outcomes.get(2) ?? 0}`);
});

t.test('the config files the issue named get one line naming the file', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['empty', '', /^earshot: c\.yaml: the config file is empty \(no keys\)/],
    ['comment only', '# nothing\n  # here\n', /^earshot: c\.yaml: the config file is empty/],
    ['two documents', 'node_id: a\n---\nnode_id: b\n', /^earshot: c\.yaml: holds 2 YAML documents/],
    ['deep flow nesting', `a: ${'['.repeat(20000)}${']'.repeat(20000)}\n`, /^earshot: c\.yaml: (not valid YAML: nests too deeply|nests more than 32 levels)/],
    [
      'deep block nesting',
      `${Array.from({ length: 60 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n')} 1\n`,
      /^earshot: c\.yaml: nests more than 32 levels deep/,
    ],
    ['NUL in data_dir', 'data_dir: "/tmp/a\\0b"\n', /^$/],
  ];
  for (const [what, text, expected] of cases) {
    const result = asTheCliWould(text, 'c.yaml');
    t.match(result.stderr.split('\n')[0], expected, what);
    t.notOk(hasStackTrace(result.stderr), `${what}: no stack`);
  }
});

t.test(`a sample of ${PROCESS_SAMPLE} mutated configs through the real CLI`, async (t) => {
  const random = mulberry32(77);
  const failures: string[] = [];
  for (let i = 0; i < PROCESS_SAMPLE; i++) {
    const { text, what } = mutate(random);
    const path = join(dir, `case-${i}.yaml`);
    writeFileSync(path, text);
    const inProcess = asTheCliWould(text, path);
    // --model on a missing file: a valid config ends there at once (exit 2), before any model loads.
    const result = await earshot(['analyze', '--config', path, '--model', join(dir, 'no-model.tflite'), join(dir, 'none.wav')], { timeoutMs: 30_000 });
    const ok =
      result.code === 2 &&
      !hasStackTrace(result.stderr) &&
      (inProcess.exitCode === 0 ? /no-model\.tflite: model file not found/.test(result.stderr) : result.stderr.includes(inProcess.stderr.trim()));
    if (!ok) failures.push(`case ${i} (${what}): code ${result.code} signal ${result.signal}: ${result.stderr.slice(0, 300)}`);
  }
  t.same(failures, [], 'the CLI answers as errorOutcome does (killed after 30 s: a hang detector on a shared machine)');
});
