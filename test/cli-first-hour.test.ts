/**
 * Rough edges a new user met on the command line (issue 23):
 * - item 9: `analyze` with several files analyses every readable one, names each bad one on
 *   stderr with its reason, and exits 2 at the end;
 * - item 10: a WAV or a text file given as `--model` is refused as what it is
 *   ("not a TFLite or ONNX model (a WAV audio file)"), not with "no manifest describes this file".
 */
import t from 'tap';
import { earshot, hasStackTrace, SHARED } from './helpers/cli.js';
import { YAMNET_WAVEFORM as MODEL } from './helpers/fixtures.js';

t.test('analyze: every readable file is analysed, each bad one named, exit 2 at the end', async (t) => {
  const good = [`${SHARED}audio/clips/gunshot_1.wav`, `${SHARED}audio/clips/scream_2.wav`];
  const bad = [`${SHARED}audio/formats/not_audio.wav`, '/nonexistent/take.wav'];
  const result = await earshot(['analyze', '--model', MODEL, good[0], bad[0], good[1], bad[1]]);
  t.equal(result.code, 2, 'exit 2');
  t.notOk(hasStackTrace(result.stderr), 'no stack trace');
  t.match(result.stdout, /^gunshot_1\.wav +\S+ +\S+ +gunshot /m, "the first good file's event is printed");
  t.match(result.stdout, /^scream_2\.wav +\S+ +\S+ +scream /m, 'so is the one after the bad file');
  t.match(result.stderr, /not_audio\.wav: not a WAV file/, 'the bad file is named with its reason');
  t.match(result.stderr, /\/nonexistent\/take\.wav: cannot read file: no such file/, 'and the missing one');
  t.match(result.stderr, /analyze: 2 of 4 files could not be analysed/, 'a summary line');

  const tsv = await earshot(['analyze', '--tsv', '--model', MODEL, bad[0], good[0]]);
  t.equal(tsv.code, 2);
  t.match(tsv.stdout, /^filename\tonset\toffset\tevent_label\ngunshot_1\.wav\t/, "--tsv: the good file's rows");
});

t.test('a WAV or a text file as --model: said to be not a model', async (t) => {
  const clip = `${SHARED}audio/clips/gunshot_1.wav`;
  const cases: [string, RegExp][] = [
    [clip, /gunshot_1\.wav: not a TFLite or ONNX model \(a WAV audio file\)/],
    [`${SHARED}models/invalid/not_a_model.tflite`, /not_a_model\.tflite: not a TFLite or ONNX model \(a text file\)/],
    [`${SHARED}README.md`, /README\.md: not a TFLite or ONNX model \(a text file\)/],
  ];
  for (const [model, pattern] of cases) {
    const result = await earshot(['analyze', '--model', model, clip]);
    t.equal(result.code, 2, `${model}: exit 2`);
    t.match(result.stderr, pattern, result.stderr.trim());
    t.notMatch(result.stderr, /no model manifest describes/, 'not the manifest message');
  }
});
