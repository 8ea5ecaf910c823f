/**
 * Full-batch L-BFGS for the heads' smooth objectives (L2-regularised softmax regression, a small
 * MLP). No maintained npm package fits: `fmin` (0.0.4, unmaintained since 2016) has no L-BFGS, and
 * ml-logistic-regression trains one-vs-rest by plain gradient descent. This is the textbook method:
 *
 * - direction: the two-loop recursion, J. Nocedal and S. J. Wright, *Numerical Optimization*,
 *   2nd ed., Springer 2006, Algorithm 7.4, with the initial Hessian scaling γ = sᵀy / yᵀy (eq. 7.20);
 * - step: backtracking line search with the Armijo condition (ibid., Algorithm 3.1, c₁ = 1e-4,
 *   halving), the first step scaled to 1/‖g‖ so that it has unit length;
 * - a pair (s, y) is kept only when sᵀy > 1e-10·yᵀy (curvature), so the implied Hessian stays
 *   positive definite without a Wolfe search; otherwise the memory is cleared.
 *
 * Deterministic: plain float64 loops in a fixed order (the objective may be async).
 */

/** The objective: writes ∂f/∂x into `gradient` (same length as x) and returns f(x). */
export type Objective = (x: Float64Array, gradient: Float64Array) => number | Promise<number>;

/** Options of {@link minimizeLbfgs}. */
export interface LbfgsOptions {
  /** Iterations at most (each costs one gradient, plus one per halving of the step). Default 200. */
  maxIterations?: number;
  /** (s, y) pairs kept. Default 10. */
  memory?: number;
  /** Stop when max |gradient component| is below this. Default 1e-5. */
  gradientTolerance?: number;
  /** Stop when the loss fell by less than this fraction of |loss| over an iteration. Default 1e-9. */
  relativeTolerance?: number;
  /** Called after each iteration (progress display). */
  onIteration?: (iteration: number, loss: number) => void;
}

/** What {@link minimizeLbfgs} found. */
export interface LbfgsResult {
  x: Float64Array;
  loss: number;
  iterations: number;
  /** Why it stopped. */
  stop: 'gradient' | 'relative' | 'iterations' | 'line-search';
}

function dot(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i]!);
    if (v > m) m = v;
  }
  return m;
}

/**
 * Minimises `objective` from `x0` (not modified).
 * @throws Error when the objective returns a non-finite value at x0 (a bug in the caller)
 */
export async function minimizeLbfgs(objective: Objective, x0: Float64Array, options: LbfgsOptions = {}): Promise<LbfgsResult> {
  const maxIterations = options.maxIterations ?? 200;
  const memory = options.memory ?? 10;
  const gradientTolerance = options.gradientTolerance ?? 1e-5;
  const relativeTolerance = options.relativeTolerance ?? 1e-9;
  const n = x0.length;
  let x = Float64Array.from(x0);
  let g = new Float64Array(n);
  let f = await objective(x, g);
  if (!Number.isFinite(f)) throw new Error(`L-BFGS: the objective is ${f} at the start`);
  const sList: Float64Array[] = [];
  const yList: Float64Array[] = [];
  const rhoList: number[] = [];
  const alpha = new Float64Array(memory);
  const direction = new Float64Array(n);
  let xNew = new Float64Array(n);
  let gNew = new Float64Array(n);
  let iteration = 0;
  let stop: LbfgsResult['stop'] = 'iterations';
  while (iteration < maxIterations) {
    if (maxAbs(g) < gradientTolerance) {
      stop = 'gradient';
      break;
    }
    // Two-loop recursion: direction = −H·g.
    for (let i = 0; i < n; i++) direction[i] = -g[i]!;
    const k = sList.length;
    for (let j = k - 1; j >= 0; j--) {
      alpha[j] = rhoList[j]! * dot(sList[j]!, direction);
      const y = yList[j]!;
      for (let i = 0; i < n; i++) direction[i] -= alpha[j]! * y[i]!;
    }
    if (k > 0) {
      const gamma = dot(sList[k - 1]!, yList[k - 1]!) / dot(yList[k - 1]!, yList[k - 1]!);
      for (let i = 0; i < n; i++) direction[i] *= gamma;
    }
    for (let j = 0; j < k; j++) {
      const beta = rhoList[j]! * dot(yList[j]!, direction);
      const s = sList[j]!;
      for (let i = 0; i < n; i++) direction[i] += (alpha[j]! - beta) * s[i]!;
    }
    let slope = dot(g, direction);
    if (!(slope < 0)) {
      // Not a descent direction (numerical trouble): restart from steepest descent.
      sList.length = yList.length = rhoList.length = 0;
      for (let i = 0; i < n; i++) direction[i] = -g[i]!;
      slope = dot(g, direction);
    }
    let step = k === 0 ? 1 / Math.sqrt(dot(direction, direction)) : 1;
    let fNew = Number.NaN;
    let accepted = false;
    for (let halving = 0; halving < 40; halving++) {
      for (let i = 0; i < n; i++) xNew[i] = x[i]! + step * direction[i]!;
      fNew = await objective(xNew, gNew);
      if (Number.isFinite(fNew) && fNew <= f + 1e-4 * step * slope) {
        accepted = true;
        break;
      }
      step /= 2;
    }
    if (!accepted) {
      stop = 'line-search';
      break;
    }
    const s = new Float64Array(n);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      s[i] = xNew[i]! - x[i]!;
      y[i] = gNew[i]! - g[i]!;
    }
    const sy = dot(s, y);
    const yy = dot(y, y);
    if (sy > 1e-10 * yy && yy > 0) {
      sList.push(s);
      yList.push(y);
      rhoList.push(1 / sy);
      if (sList.length > memory) {
        sList.shift();
        yList.shift();
        rhoList.shift();
      }
    } else {
      sList.length = yList.length = rhoList.length = 0;
    }
    [x, xNew] = [xNew, x];
    [g, gNew] = [gNew, g];
    const previous = f;
    f = fNew;
    iteration += 1;
    options.onIteration?.(iteration, f);
    if (previous - f <= relativeTolerance * Math.max(1, Math.abs(f))) {
      stop = 'relative';
      break;
    }
  }
  return { x, loss: f, iterations: iteration, stop };
}
