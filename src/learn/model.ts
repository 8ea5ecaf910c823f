/**
 * Fitting a head's weights: multinomial logistic regression (softmax over the labels) or a
 * one-hidden-layer ReLU MLP, on normalised feature rows, minimising the class-weighted mean
 * cross-entropy plus (λ/2)·‖W‖² (biases not penalised) with full-batch L-BFGS (lbfgs.ts).
 * The large products run in ONNX Runtime's SGEMM (float32, matmul.ts), the rest in float64.
 *
 * Rows are float32 `[rows][inputs]` (already normalised); targets are label indices. Every loop
 * runs in a fixed order and the SGEMM on one thread, so the same data and seed give the same weights.
 */
import { mulberry32 } from '../random.js';
import { minimizeLbfgs } from './lbfgs.js';
import { openMatMul, type MatMul } from './matmul.js';

/** A feature matrix: `rows × inputs` row-major float32. */
export interface Matrix {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float32Array;
}

/** Options of {@link fitHead}. */
export interface FitOptions {
  /** Number of output classes (labels, background included). */
  classes: number;
  /** Hidden ReLU units; 0 = logistic regression. */
  hidden: number;
  /** L2 penalty λ on the weights. */
  l2: number;
  /** Weight of each row (e.g. balanced class weights); default 1. */
  rowWeights?: Float64Array;
  /** Seeds the MLP's initial weights (logistic regression starts from zero). */
  seed: number;
  maxIterations: number;
  onIteration?: (iteration: number, loss: number) => void;
}

/** Fitted dense layers, weights `[outputs][inputs]` row-major. */
export interface FittedLayers {
  layers: { activation: 'relu' | 'softmax'; inputs: number; outputs: number; weights: Float64Array; bias: Float64Array }[];
  loss: number;
  iterations: number;
}

/**
 * Balanced class weights: row weight = rows / (classes present × rows of its class), so every class
 * present weighs the same in the loss (scikit-learn's `class_weight="balanced"`).
 */
export function balancedWeights(targets: Int32Array, classes: number): Float64Array {
  const counts = new Float64Array(classes);
  for (const t of targets) counts[t] += 1;
  const present = counts.filter((c) => c > 0).length;
  return Float64Array.from(targets, (t) => targets.length / (present * counts[t]!));
}

/**
 * Fits the head's layers. The two big products of each step (rows × inputs × outputs) run in
 * ONNX Runtime (matmul.ts); the softmax, loss and the small products run here in float64.
 * @param x normalised rows
 * @param targets class index per row (0..classes−1)
 */
export async function fitHead(x: Matrix, targets: Int32Array, options: FitOptions): Promise<FittedLayers> {
  const weights = options.rowWeights ?? new Float64Array(x.rows).fill(1);
  let totalWeight = 0;
  for (const w of weights) totalWeight += w;
  const matmul = await openMatMul();
  try {
    return options.hidden > 0
      ? await fitMlp(matmul, x, targets, weights, totalWeight, options)
      : await fitLogistic(matmul, x, targets, weights, totalWeight, options);
  } finally {
    await matmul.close();
  }
}

/** Transposes a row-major [rows × cols] matrix into float32 [cols × rows]. */
function transpose(source: ArrayLike<number>, rows: number, cols: number, offset = 0): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = source[offset + r * cols + c]!;
  return out;
}

/**
 * Softmax cross-entropy of logits `z` [rows × k] (bias added here): writes the weighted deltas
 * (p − onehot)·w/Σw into `delta` [rows × k] and returns the data part of the loss.
 */
function softmaxDeltas(
  z: Float32Array,
  bias: Float64Array,
  offsetBias: number,
  k: number,
  targets: Int32Array,
  weights: Float64Array,
  totalWeight: number,
  delta: Float64Array,
): number {
  const rows = targets.length;
  let loss = 0;
  const logits = new Float64Array(k);
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) {
      const v = z[r * k + c]! + bias[offsetBias + c]!;
      logits[c] = v;
      if (v > max) max = v;
    }
    let total = 0;
    for (let c = 0; c < k; c++) total += Math.exp(logits[c]! - max);
    const logTotal = Math.log(total) + max;
    const target = targets[r]!;
    const rowWeight = weights[r]! / totalWeight;
    loss += rowWeight * (logTotal - logits[target]!);
    for (let c = 0; c < k; c++) delta[r * k + c] = rowWeight * (Math.exp(logits[c]! - logTotal) - (c === target ? 1 : 0));
  }
  return loss;
}

async function fitLogistic(
  matmul: MatMul,
  x: Matrix,
  targets: Int32Array,
  weights: Float64Array,
  totalWeight: number,
  options: FitOptions,
): Promise<FittedLayers> {
  const { rows, cols: d, data } = x;
  const k = options.classes;
  const nW = k * d;
  const delta = new Float64Array(rows * k);
  const objective = async (params: Float64Array, gradient: Float64Array): Promise<number> => {
    // z = X · Wᵀ  ([rows × d] · [d × k])
    const z = await matmul.multiply(data, rows, d, transpose(params, k, d), k);
    let loss = softmaxDeltas(z, params, nW, k, targets, weights, totalWeight, delta);
    // ∂/∂W = Δᵀ · X  ([k × rows] · [rows × d])
    const gw = await matmul.multiply(transpose(delta, rows, k), k, rows, data, d);
    for (let i = 0; i < nW; i++) {
      loss += 0.5 * options.l2 * params[i]! * params[i]!;
      gradient[i] = gw[i]! + options.l2 * params[i]!;
    }
    for (let c = 0; c < k; c++) {
      let sum = 0;
      for (let r = 0; r < rows; r++) sum += delta[r * k + c]!;
      gradient[nW + c] = sum;
    }
    return loss;
  };
  const result = await minimizeLbfgs(objective, new Float64Array(nW + k), {
    maxIterations: options.maxIterations,
    relativeTolerance: 1e-7,
    onIteration: options.onIteration,
  });
  return {
    layers: [{ activation: 'softmax', inputs: d, outputs: k, weights: result.x.slice(0, nW), bias: result.x.slice(nW) }],
    loss: result.loss,
    iterations: result.iterations,
  };
}

async function fitMlp(matmul: MatMul, x: Matrix, targets: Int32Array, weights: Float64Array, totalWeight: number, options: FitOptions): Promise<FittedLayers> {
  const { rows, cols: d, data } = x;
  const k = options.classes;
  const h = options.hidden;
  // Layout: W1 [h][d], b1 [h], W2 [k][h], b2 [k].
  const oW1 = 0;
  const oB1 = h * d;
  const oW2 = oB1 + h;
  const oB2 = oW2 + k * h;
  const n = oB2 + k;
  const x0 = new Float64Array(n);
  // He-uniform initialisation (He et al. 2015) from the seed; biases zero.
  const random = mulberry32(options.seed);
  const limit1 = Math.sqrt(6 / d);
  for (let i = 0; i < h * d; i++) x0[oW1 + i] = (random() * 2 - 1) * limit1;
  const limit2 = Math.sqrt(6 / h);
  for (let i = 0; i < k * h; i++) x0[oW2 + i] = (random() * 2 - 1) * limit2;
  const hiddenOut = new Float32Array(rows * h);
  const z = new Float32Array(rows * k);
  const delta = new Float64Array(rows * k);
  const dA = new Float64Array(rows * h);
  const objective = async (p: Float64Array, gradient: Float64Array): Promise<number> => {
    const a = await matmul.multiply(data, rows, d, transpose(p, h, d, oW1), h);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < h; j++) {
        const v = a[r * h + j]! + p[oB1 + j]!;
        hiddenOut[r * h + j] = v > 0 ? v : 0;
      }
      for (let c = 0; c < k; c++) {
        let sum = 0;
        const w = oW2 + c * h;
        for (let j = 0; j < h; j++) sum += p[w + j]! * hiddenOut[r * h + j]!;
        z[r * k + c] = sum;
      }
    }
    let loss = softmaxDeltas(z, p, oB2, k, targets, weights, totalWeight, delta);
    gradient.fill(0);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < k; c++) {
        const dz = delta[r * k + c]!;
        gradient[oB2 + c] += dz;
        const w = oW2 + c * h;
        for (let j = 0; j < h; j++) gradient[w + j] += dz * hiddenOut[r * h + j]!;
      }
      for (let j = 0; j < h; j++) {
        if (hiddenOut[r * h + j]! <= 0) {
          dA[r * h + j] = 0;
          continue;
        }
        let sum = 0;
        for (let c = 0; c < k; c++) sum += delta[r * k + c]! * p[oW2 + c * h + j]!;
        dA[r * h + j] = sum;
        gradient[oB1 + j] += sum;
      }
    }
    const gw1 = await matmul.multiply(transpose(dA, rows, h), h, rows, data, d);
    for (let i = 0; i < h * d; i++) gradient[oW1 + i] = gw1[i]!;
    for (const [start, end] of [
      [oW1, oB1],
      [oW2, oB2],
    ] as const) {
      for (let i = start; i < end; i++) {
        loss += 0.5 * options.l2 * p[i]! * p[i]!;
        gradient[i] += options.l2 * p[i]!;
      }
    }
    return loss;
  };
  const result = await minimizeLbfgs(objective, x0, { maxIterations: options.maxIterations, relativeTolerance: 1e-7, onIteration: options.onIteration });
  const p = result.x;
  return {
    layers: [
      { activation: 'relu', inputs: d, outputs: h, weights: p.slice(oW1, oB1), bias: p.slice(oB1, oW2) },
      { activation: 'softmax', inputs: h, outputs: k, weights: p.slice(oW2, oB2), bias: p.slice(oB2, n) },
    ],
    loss: result.loss,
    iterations: result.iterations,
  };
}

/**
 * Forward pass of fitted layers on normalised rows (the same arithmetic as applyHead, in float64).
 * @returns probabilities `[rows][classes]`
 */
export function predict(layers: FittedLayers['layers'], x: Matrix): Float64Array {
  const k = layers[layers.length - 1]!.outputs;
  const out = new Float64Array(x.rows * k);
  let buffers = layers.map((l) => new Float64Array(l.outputs));
  for (let r = 0; r < x.rows; r++) {
    let input: Float64Array | Float32Array = x.data.subarray(r * x.cols, (r + 1) * x.cols);
    layers.forEach((layer, li) => {
      const y = buffers[li]!;
      for (let o = 0; o < layer.outputs; o++) {
        let sum = layer.bias[o]!;
        const w = o * layer.inputs;
        for (let i = 0; i < layer.inputs; i++) sum += layer.weights[w + i]! * input[i]!;
        y[o] = sum;
      }
      if (layer.activation === 'relu') for (let o = 0; o < layer.outputs; o++) y[o] = Math.max(0, y[o]!);
      else {
        let max = -Infinity;
        for (let o = 0; o < layer.outputs; o++) max = Math.max(max, y[o]!);
        let total = 0;
        for (let o = 0; o < layer.outputs; o++) total += y[o] = Math.exp(y[o]! - max);
        for (let o = 0; o < layer.outputs; o++) y[o] = y[o]! / total;
      }
      input = y;
    });
    out.set(input as ArrayLike<number>, r * k);
  }
  buffers = [];
  return out;
}
