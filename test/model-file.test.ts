// Tests of the TFLite model file reader (src/inference/tflite/model-file.ts) on every shared model.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

import { EarshotError } from '../src/errors.js';
import { mulberry32 } from '../src/random.js';
import {
  loadTfliteModelFile,
  outputClassCount,
  parseLabelsText,
  readLabelsFile,
  readTfliteModel,
  shapeSize,
  type TfliteModelInfo,
} from '../src/inference/tflite/model-file.js';

const MODELS = fileURLToPath(new URL('../../shared/models/', import.meta.url));
const model = (rel: string) => join(MODELS, rel);
const read = (rel: string): TfliteModelInfo => readTfliteModel(readFileSync(model(rel)), model(rel));

interface Expected {
  input: [string, number[]];
  output: [string, number[]];
  inputQ?: [number, number];
  outputQ?: [number, number];
  ops?: string[];
}

const EXPECTED: Record<string, Expected> = {
  'yamnet/yamnet_waveform.tflite': { input: ['float32', [15600]], output: ['float32', [1, 521]], ops: ['RFFT2D', 'CONV_2D', 'LOGISTIC'] },
  'yamnet/yamnet_audio_classifier_with_metadata.tflite': { input: ['float32', [15600]], output: ['float32', [1, 521]], ops: ['QUANTIZE', 'DEQUANTIZE'] },
  'yamnet/yamnet_spectra_in.tflite': { input: ['float32', [1, 96, 64]], output: ['float32', [1, 521]], ops: ['QUANTIZE', 'DEQUANTIZE'] },
  'st/st_yamnet256_fsd50k_int8.tflite': { input: ['int8', [1, 64, 96, 1]], output: ['float32', [1, 5]], inputQ: [0.057255, 33] },
  'st/st_yamnet256_esc10_int8.tflite': { input: ['int8', [1, 64, 96, 1]], output: ['float32', [1, 10]], inputQ: [0.0547226, 40] },
  'st/st_miniresnetv2_esc10_int8.tflite': { input: ['int8', [1, 64, 50, 1]], output: ['float32', [1, 10]], inputQ: [0.313726, 127] },
  'micro/micro_speech_int8.tflite': { input: ['int8', [1, 1960]], output: ['int8', [1, 4]], inputQ: [0.101716, -128], outputQ: [1 / 256, -128] },
  // Parses fine (it is a well-formed FlatBuffer); it is the native runtime that cannot take it.
  'invalid/keyword_scrambled_8bit.tflite': { input: ['int16', [1, 96]], output: ['int32', [1, 2]], inputQ: [0.000625, 0], ops: ['SVDF'] },
};

for (const [rel, e] of Object.entries(EXPECTED)) {
  t.test(`tensors of ${rel}`, async (t) => {
    const info = read(rel);
    t.equal(info.version, 3, 'schema version 3');
    t.equal(info.subgraphCount, 1);
    t.equal(info.inputs.length, 1, 'one input');
    t.equal(info.outputs.length, 1, 'one output');
    const [input, output] = [info.inputs[0]!, info.outputs[0]!];
    t.same([input.dtype, input.shape], e.input, 'input dtype and shape');
    t.same([output.dtype, output.shape], e.output, 'output dtype and shape');
    if (e.inputQ) {
      t.ok(input.quantization, 'input quantization present');
      t.ok(Math.abs(input.quantization!.scale - e.inputQ[0]) < 1e-6, `input scale ${input.quantization!.scale} ≈ ${e.inputQ[0]}`);
      t.equal(input.quantization!.zeroPoint, e.inputQ[1], 'input zero point');
    } else {
      t.equal(input.quantization, undefined, 'float input has no quantization');
    }
    if (e.outputQ) {
      t.ok(Math.abs(output.quantization!.scale - e.outputQ[0]) < 1e-9, 'output scale');
      t.equal(output.quantization!.zeroPoint, e.outputQ[1], 'output zero point');
    }
    const names = info.operatorCodes.map((o) => o.name);
    for (const op of e.ops ?? []) t.ok(names.includes(op), `uses ${op}`);
    t.ok(info.operatorCount > 0, 'has operators');
    t.equal(outputClassCount(info), e.output[1][e.output[1].length - 1]);
  });
}

t.test('yamnet_waveform: names, no metadata, no labels', async (t) => {
  const info = read('yamnet/yamnet_waveform.tflite');
  t.equal(info.inputs[0]!.name, 'waveform');
  t.equal(info.description, 'MLIR Converted.');
  t.equal(info.minRuntimeVersion, '2.5.0');
  t.equal(info.metadata, undefined);
  t.equal(info.labels, undefined);
  t.same(info.embeddedFiles, []);
  t.equal(shapeSize(info.inputs[0]!.shape), 15600);
});

t.test('ST model: signature and dynamic batch in the shape signature', async (t) => {
  const info = read('st/st_yamnet256_fsd50k_int8.tflite');
  t.equal(info.signatures.length, 1);
  t.equal(info.signatures[0]!.key, 'serving_default');
  t.same(
    info.signatures[0]!.inputs.map((i) => i.tensorIndex),
    [info.inputs[0]!.index],
  );
  t.same(info.inputs[0]!.shapeSignature, [-1, 64, 96, 1]);
  t.equal(info.inputs[0]!.name, 'serving_default_input_1:0');
});

t.test('TFLite Metadata and the 521 embedded labels', async (t) => {
  const info = read('yamnet/yamnet_audio_classifier_with_metadata.tflite');
  t.same(info.metadataEntries, ['min_runtime_version', 'TFLITE_METADATA']);
  const md = info.metadata!;
  t.ok(md, 'has metadata');
  t.equal(md.name, 'yamnet/classification');
  t.match(md.description, /521 sound event classes/);
  t.same(md.outputNames, ['scores']);
  t.same(
    md.associatedFiles.map((f) => [f.name, f.type, f.attachedTo]),
    [['yamnet_label_list.txt', 'TENSOR_AXIS_LABELS', { output: 0 }]],
  );
  t.same(info.embeddedFiles, ['yamnet_label_list.txt']);
  const labels = info.labels!;
  t.equal(labels.length, 521);
  t.equal(labels[0], 'Speech');
  t.equal(labels[11], 'Screaming');
  t.equal(labels[420], 'Explosion');
  t.equal(labels[421], 'Gunshot, gunfire');
  t.equal(labels[435], 'Glass');
  t.equal(labels[494], 'Silence');
  t.equal(labels[520], 'Field recording');
});

t.test('yamnet_class_map.csv gives the same 521 labels as the embedded list', async (t) => {
  const csv = readLabelsFile(model('yamnet/yamnet_class_map.csv'));
  t.equal(csv.length, 521);
  t.equal(csv[421], 'Gunshot, gunfire', 'quoted field with a comma');
  t.equal(csv[1], 'Child speech, kid speaking');
  t.same(csv, read('yamnet/yamnet_audio_classifier_with_metadata.tflite').labels);
});

t.test('labels files: plain lines and CSV variants', async (t) => {
  const dir = t.testdir({
    'labels.txt': '\uFEFFsilence\r\nunknown\r\nyes\r\nno\r\n\r\n',
    'map.csv': 'index,mid,display_name\n0,/m/a,"Gunshot, gunfire"\n1,/m/b,"Say ""hi"""\n2,/m/c,Glass\n',
    'nocol.csv': 'index,name\n0,a\n',
    'empty.txt': '\n\n',
  });
  t.same(readLabelsFile(join(dir, 'labels.txt')), ['silence', 'unknown', 'yes', 'no']);
  t.same(readLabelsFile(join(dir, 'map.csv')), ['Gunshot, gunfire', 'Say "hi"', 'Glass']);
  t.throws(() => readLabelsFile(join(dir, 'nocol.csv')), { name: 'EarshotError', message: /nocol\.csv: CSV labels file has no "display_name" column/ });
  t.throws(() => readLabelsFile(join(dir, 'empty.txt')), { message: /empty\.txt: labels file is empty/ });
  t.throws(() => readLabelsFile(join(dir, 'missing.txt')), { name: 'EarshotError', message: /missing\.txt: labels file not found/ });
  // A CSV header is recognised without the .csv extension too.
  t.same(parseLabelsText('index,mid,display_name\n0,x,Speech\n', 'labels'), ['Speech']);
});

t.test('invalid files give an EarshotError naming the file and the problem', async (t) => {
  t.throws(() => read('invalid/not_a_model.tflite'), {
    name: 'EarshotError',
    message: /not_a_model\.tflite: not a TFLite model \(no "TFL3" FlatBuffer identifier at bytes 4\.\.8/,
  });
  t.throws(() => read('invalid/truncated_yamnet.tflite'), {
    name: 'EarshotError',
    message: /truncated_yamnet\.tflite: TFLite model is truncated or corrupt \(.* lies past the end; the file has 200000 bytes\)/,
  });
  t.throws(() => readTfliteModel(new Uint8Array(0), 'empty.tflite'), { message: 'empty.tflite: model file is empty' });
  t.throws(() => readTfliteModel(new Uint8Array([1, 2, 3]), 'tiny.tflite'), { message: /tiny\.tflite: not a TFLite model .*only 3 bytes/ });
  // The ONNX model is not TFLite either.
  t.throws(() => read('onnx/silero_vad.onnx'), { message: /silero_vad\.onnx: not a TFLite model/ });
  await t.rejects(loadTfliteModelFile(model('nope/missing.tflite')), { name: 'EarshotError', message: /missing\.tflite: model file not found/ });
  await t.rejects(loadTfliteModelFile(MODELS), { name: 'EarshotError', message: /is a directory/ });
});

t.test('truncated or corrupted models only ever give an EarshotError', async (t) => {
  const bytes = readFileSync(model('micro/micro_speech_int8.tflite'));
  const others: string[] = [];
  const attempt = (b: Uint8Array, what: string) => {
    try {
      readTfliteModel(b, 'x.tflite');
    } catch (error) {
      if (!(error instanceof EarshotError) || !error.message.startsWith('x.tflite: ')) others.push(`${what}: ${String(error)}`);
    }
  };
  let truncations = 0;
  for (let n = 0; n < bytes.length; n += 37) {
    attempt(bytes.subarray(0, n), `cut at ${n}`);
    truncations++;
  }
  // Every truncation must be refused: the buffers run to the end of the file.
  let refused = 0;
  for (let n = 8; n < bytes.length - 64; n += 37) {
    try {
      readTfliteModel(bytes.subarray(0, n), 'x.tflite');
    } catch {
      refused++;
    }
  }
  t.equal(refused, Math.ceil((bytes.length - 64 - 8) / 37), 'every truncation is refused');
  const rand = mulberry32(42);
  for (let i = 0; i < 400; i++) {
    const b = Uint8Array.from(bytes);
    for (let k = 0; k < 4; k++) b[Math.floor(rand() * 2048)] = Math.floor(rand() * 256); // the tables are near the start
    attempt(b, `corruption ${i}`);
  }
  t.same(others, [], `${truncations} truncations and 400 corruptions: no other error type`);
});
