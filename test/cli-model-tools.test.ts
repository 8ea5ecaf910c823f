/**
 * `earshot model info` and `earshot model bench` on real models, the refusal of models whose
 * front end earshot cannot compute, and every shipped manifest serving its model on real clips.
 * Runs the built CLI (dist/).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';

import { earshot, hasStackTrace } from './helpers/cli.js';
import { CLIPS, MODELS, YAMNET_WAVEFORM } from './helpers/fixtures.js';

function expectOneLineFailure(t: Test, result: { code: number | null; stderr: string; stdout: string }, code: number, pattern: RegExp, what: string): void {
  t.equal(result.code, code, `${what}: exit ${code}`);
  t.match(result.stderr, pattern, `${what}: says what is wrong`);
  t.equal(result.stderr.trim().split('\n').length, 1, `${what}: one line (${result.stderr.trim()})`);
  t.notOk(hasStackTrace(result.stderr), `${what}: no stack trace`);
  t.equal(result.stdout, '', `${what}: nothing on stdout`);
}

t.test('model info: tensors, dtypes, shapes, quantization, operators, metadata and the manifest', async (t) => {
  // Independent runs: started together to keep the test short.
  const [waveform, st, withMetadata, onnx, json, refused] = await Promise.all([
    earshot(['model', 'info', YAMNET_WAVEFORM]),
    earshot(['model', 'info', `${MODELS}st/st_yamnet256_fsd50k_int8.tflite`]),
    earshot(['model', 'info', `${MODELS}yamnet/yamnet_audio_classifier_with_metadata.tflite`]),
    earshot(['model', 'info', `${MODELS}onnx/silero_vad.onnx`]),
    earshot(['model', 'info', '--json', `${MODELS}st/st_yamnet256_esc10_int8.tflite`]),
    earshot(['model', 'info', `${MODELS}st/st_miniresnetv2_esc10_int8.tflite`]),
  ]);
  t.equal(waveform.code, 0, waveform.stderr);
  t.match(waveform.stdout, /sha256 687f226c147a2caab4706fbbab5e9cecb14b9a368264bf61108078b1fddf68f5/);
  t.match(waveform.stdout, /^inputs\n {2}waveform +float32 +\[15600\]$/m);
  t.match(waveform.stdout, /^outputs\n {2}Identity +float32 +\[1,521\]$/m);
  t.match(waveform.stdout, /^operators +44 in 12 kinds: CONV_2D x14, DEPTHWISE_CONV_2D x13, .*RFFT2D x1$/m);
  t.match(waveform.stdout, /^metadata +none$/m);
  t.match(waveform.stdout, /^manifest +yamnet_waveform \(models\/yamnet_waveform\.yaml\)$/m);
  t.match(waveform.stdout, /^ {2}labels +521 in yamnet_class_map\.csv$/m);

  t.equal(st.code, 0, st.stderr);
  t.match(st.stdout, /serving_default_input_1:0 +int8 +\[1,64,96,1\] +scale 0\.0572550\d* zero point 33/, 'int8 input with its quantization');
  t.match(st.stdout, /StatefulPartitionedCall:0 +float32 +\[1,5\]/);
  t.match(
    st.stdout,
    /manifest +st_yamnet256_fsd50k .*\n {2}input +log-mel patch mels_frames, 96 frames x 64 mels, 125-7500 Hz, log offset 0\.0001, hop 72 frames/,
  );

  t.equal(withMetadata.code, 0, withMetadata.stderr);
  t.match(withMetadata.stdout, /^metadata\n {2}name: yamnet\/classification\n {2}description: Recognizes 521 sound event classes/m);
  t.match(withMetadata.stdout, /^ {2}version: v1$/m);
  t.match(withMetadata.stdout, /^labels +521 embedded \(yamnet_label_list\.txt\): Speech, Child speech, kid speaking, /m);
  t.match(withMetadata.stdout, /QUANTIZE x1/);
  t.match(withMetadata.stdout, /^manifest +yamnet \(models\/yamnet\.yaml\)/m);

  t.equal(onnx.code, 0, onnx.stderr);
  t.match(onnx.stdout, /^format +ONNX: ir version 8, opset 16, producer spox, graph spox_graph, nodes 689$/m);
  t.match(onnx.stdout, /^ {2}state +float32 +\[2,\?,128\]$/m);
  t.match(onnx.stdout, /^ {2}sr +int64 +\[\]$/m);
  t.match(onnx.stdout, /^ {2}stateN +float32/m);
  t.match(onnx.stdout, /LSTM x4/);
  t.match(onnx.stdout, /^manifest +none needed: Silero VAD/m);

  t.equal(json.code, 0, json.stderr);
  const report = JSON.parse(json.stdout) as { format: string; inputs: { dtype: string; quantization: { zero_point: number } }[]; manifest: { id: string } };
  t.equal(report.format, 'tflite');
  t.equal(report.inputs[0]!.dtype, 'int8');
  t.equal(report.inputs[0]!.quantization.zero_point, 40);
  t.equal(report.manifest.id, 'st_yamnet256_esc10');

  t.equal(refused.code, 0, 'info still describes a model earshot refuses to serve');
  t.match(refused.stdout, /\[1,64,50,1\] +scale 0\.3137\d* zero point 127/);
  t.match(refused.stdout, /^manifest +earshot cannot serve st_miniresnetv2_esc10: it needs a dB power-mel front end/m);
});

t.test('model bench: median and p99 invoke time and real-time factor per backend, on a real clip', async (t) => {
  const clip = `${CLIPS}speech_1.wav`;
  const st = await earshot([
    'model',
    'bench',
    `${MODELS}st/st_yamnet256_fsd50k_int8.tflite`,
    '--backend',
    'tflite-node,litert-wasm',
    '--runs',
    '10',
    '--clip',
    clip,
  ]);
  t.equal(st.code, 0, st.stderr);
  t.match(st.stdout, /input: .*speech_1\.wav \(10\.00 s\); hop 0\.48 s; 10 timed runs each/);
  t.match(st.stdout, /^backend +accelerator +median ms +p99 ms +RTF \(median\) +RTF \(p99\) +hop s +inputs$/m);
  t.match(st.stdout, /^tflite-node +cpu +\d+\.\d\d +\d+\.\d\d +\d\.\d{4} +\d\.\d{4} +0\.48 +19$/m, 'a tflite-node row: 19 patches of the 10 s clip at 0.48 s');
  t.match(st.stdout, /^litert-wasm +cpu +\d+\.\d\d/m, 'a litert-wasm row');

  const json = await earshot(['model', 'bench', YAMNET_WAVEFORM, '--runs', '5', '--hop', '0.96', '--clip', clip, '--json']);
  t.equal(json.code, 0, json.stderr);
  const { rows } = JSON.parse(json.stdout) as {
    rows: { backend: string; runs: number; median_ms: number; p99_ms: number; rtf: number; hop_s: number; inputs: number }[];
  };
  t.equal(rows.length, 1, 'one row: the configured backend');
  const [row] = rows;
  t.equal(row!.backend, 'litert-wasm');
  t.equal(row!.runs, 5);
  t.equal(row!.hop_s, 0.96);
  t.equal(row!.inputs, 10, '15600-sample windows every 0.96 s of a 10 s clip');
  t.ok(row!.p99_ms >= row!.median_ms && row!.median_ms > 0, `median ${row!.median_ms} ms <= p99 ${row!.p99_ms} ms`);
  t.ok(Math.abs(row!.rtf - row!.median_ms / 1000 / 0.96) < 1e-4, `RTF ${row!.rtf} = median / hop`);

  const vad = await earshot(['model', 'bench', `${MODELS}onnx/silero_vad.onnx`, '--runs', '20', '--clip', clip]);
  t.equal(vad.code, 0, vad.stderr);
  t.match(vad.stdout, /Silero VAD: one invoke per 512-sample step \(32 ms\)/);
  t.match(vad.stdout, /^onnx +cpu +\d+\.\d\d +\d+\.\d\d +\d\.\d{4} +\d\.\d{4} +0\.032 +312$/m);
});

t.test('model info / bench on invalid models: exit 2, one line, no stack', async (t) => {
  const invalid: [string[], RegExp, string][] = [
    [['info', `${MODELS}invalid/not_a_model.tflite`], /^earshot: .*not_a_model\.tflite: not a TFLite model/, 'info not_a_model.tflite'],
    [['bench', `${MODELS}invalid/not_a_model.tflite`], /^earshot: .*not_a_model\.tflite: not a TFLite model/, 'bench not_a_model.tflite'],
    [
      ['info', `${MODELS}invalid/truncated_yamnet.tflite`],
      /^earshot: .*truncated_yamnet\.tflite: TFLite model is truncated or corrupt/,
      'info truncated_yamnet.tflite',
    ],
    [
      ['bench', `${MODELS}invalid/truncated_yamnet.tflite`],
      /^earshot: .*truncated_yamnet\.tflite: TFLite model is truncated or corrupt/,
      'bench truncated_yamnet.tflite',
    ],
    [['info', '/nonexistent/model.onnx'], /\/nonexistent\/model\.onnx: model file not found/, 'info on a missing file'],
    [
      ['bench', `${MODELS}invalid/keyword_scrambled_8bit.tflite`],
      /keyword_scrambled_8bit\.tflite: no model manifest describes this file/,
      'bench without a manifest',
    ],
    // Forced past the manifest, the model that segfaults tflite-node is caught by the probe child.
    [
      ['bench', `${MODELS}invalid/keyword_scrambled_8bit.tflite`, '--manifest', 'yamnet_waveform', '--backend', 'tflite-node'],
      /keyword_scrambled_8bit\.tflite: model crashed the TFLite runtime during a test load/,
      'bench on a model that crashes the runtime',
    ],
    [['bench', YAMNET_WAVEFORM, '--runs', '0'], /--runs: must be a whole number >= 1, got 0/, 'bench --runs 0'],
    [['bench', YAMNET_WAVEFORM, '--backend', 'onnx'], /--backend onnx: .*yamnet_waveform\.tflite is a TFLite model/, 'bench a TFLite model on onnx'],
  ];
  const results = await Promise.all(invalid.map(([args]) => earshot(['model', ...args])));
  invalid.forEach(([, pattern, what], i) => {
    expectOneLineFailure(t, results[i]!, 2, pattern, what);
  });
});

t.test('earshot analyze refuses models whose front end earshot cannot compute, naming it', async (t) => {
  const clip = `${CLIPS}gunshot_1.wav`;
  const miniresnet = await earshot(['analyze', '--model', `${MODELS}st/st_miniresnetv2_esc10_int8.tflite`, clip]);
  expectOneLineFailure(
    t,
    miniresnet,
    2,
    /st_miniresnetv2_esc10_int8\.tflite: earshot cannot serve st_miniresnetv2_esc10: it needs a dB power-mel front end \(.*n_fft 1024.*hop 320.*50-frame patches\)/,
    'st_miniresnetv2_esc10_int8',
  );
  const micro = await earshot(['analyze', '--model', `${MODELS}micro/micro_speech_int8.tflite`, '--backend', 'tflite-node', clip]);
  expectOneLineFailure(
    t,
    micro,
    2,
    /micro_speech_int8\.tflite: earshot cannot serve micro_speech: it needs the TFLite Micro micro-frontend \(49 x 40 features/,
    'micro_speech_int8',
  );

  // A user manifest asking for another front end is refused naming the keys that differ.
  const dir = mkdtempSync(join(tmpdir(), 'earshot-manifest-'));
  const manifest = join(dir, 'mine.yaml');
  writeFileSync(
    manifest,
    'id: mine\ninput:\n  kind: logmel_patch\n  layout: mels_frames\n  log_offset: 0.0001\n  frame_samples: 1024\n  frame_hop_samples: 320\n  scale: db\nlabels:\n  source: inline\n  names: [a, b, c, d, e]\nclass_map:\n  gunshot: [a]\n',
  );
  const mine = await earshot(['analyze', '--model', `${MODELS}st/st_yamnet256_fsd50k_int8.tflite`, '--manifest', manifest, clip]);
  expectOneLineFailure(
    t,
    mine,
    2,
    /mine\.yaml: earshot cannot compute this model's front end: input\.frame_samples 1024 \(earshot: 400\), input\.frame_hop_samples 320 \(earshot: 160\), input\.scale db \(earshot: log\)/,
    'a manifest with another STFT',
  );
});

t.test('every shipped manifest serves its model: golden labels on real clips, through both TFLite backends', async (t) => {
  const cases: [string, string, string[], [string, string | null][]][] = [
    [
      'yamnet/yamnet_audio_classifier_with_metadata.tflite',
      'yamnet',
      ['--backend', 'tflite-node'],
      [
        ['gunshot_1', 'gunshot'],
        ['speech_1', 'speech'],
      ],
    ],
    [
      'yamnet/yamnet_waveform.tflite',
      'yamnet_waveform',
      ['--backend', 'litert-wasm'],
      [
        ['glass_break_1', 'glass_break'],
        ['dog_bark_1', 'dog_bark'],
      ],
    ],
    [
      'yamnet/yamnet_spectra_in.tflite',
      'yamnet_spectra_in',
      ['--backend', 'tflite-node'],
      [
        ['gunshot_1', 'gunshot'],
        ['speech_1', 'speech'],
      ],
    ],
    [
      'st/st_yamnet256_fsd50k_int8.tflite',
      'st_yamnet256_fsd50k',
      ['--backend', 'litert-wasm'],
      [
        ['glass_break_1', 'glass_break'],
        ['gunshot_1', 'gunshot'],
      ],
    ],
    [
      'st/st_yamnet256_esc10_int8.tflite',
      'st_yamnet256_esc10',
      ['--backend', 'tflite-node'],
      [
        ['dog_bark_1', 'dog_bark'],
        ['gunshot_1', null],
      ],
    ],
  ];
  const results = await Promise.all(
    cases.map(([model, , backend, clips]) =>
      earshot(['analyze', '--model', `${MODELS}${model}`, ...backend, '--json', ...clips.map(([c]) => `${CLIPS}${c}.wav`)]),
    ),
  );
  for (const [n, [model, id, backend, clips]] of cases.entries()) {
    const result = results[n]!;
    t.equal(result.code, 0, `${model}: ${result.stderr}`);
    const report = JSON.parse(result.stdout) as { model: { id: string }; files: { events: { label: string; peak_score: number }[] }[] };
    t.equal(report.model.id, id, `${model} is served by manifest ${id}`);
    clips.forEach(([clip, label], i) => {
      const events = report.files[i]!.events;
      const top = [...events].sort((a, b) => b.peak_score - a.peak_score)[0];
      if (label === null) t.same(events, [], `${id} ${backend[1]}: ${clip} → no event (the model has no such class)`);
      else t.equal(top?.label, label, `${id} ${backend[1]}: ${clip} → ${top?.label} ${top?.peak_score.toFixed(2)}`);
    });
  }
});
