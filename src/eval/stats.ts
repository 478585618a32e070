/**
 * Statistics for the study's tables: mean and standard deviation across seeds, Student's paired
 * t-test on per-example results (two-sided, as scipy.stats.ttest_rel), and Bonferroni correction.
 */
import { SemidArgumentError } from '../kernels/errors.js';

/**
 * Mean of values (0 for none).
 * @example mean([1, 2, 6]) // 3
 */
export function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return xs.length ? s / xs.length : 0;
}

/**
 * Sample standard deviation (ddof 1; 0 for fewer than two values).
 * @example std([1, 2, 6]) // 2.6458
 */
export function std(xs: ArrayLike<number>): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += (xs[i] - m) ** 2;
  return Math.sqrt(s / (xs.length - 1));
}

function logGamma(x: number): number {
  // Lanczos approximation (g = 7, n = 9)
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the incomplete beta (Numerical Recipes' betacf, modified Lentz). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d; if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c; if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d; if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c; if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return h;
}

/**
 * Regularized incomplete beta I_x(a, b).
 * @example incompleteBeta(0.5, 2, 2) // 0.5
 */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lbt = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x);
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(lbt) * betaContinuedFraction(a, b, x)) / a;
  return 1 - (Math.exp(lbt) * betaContinuedFraction(b, a, 1 - x)) / b;
}

export interface TTestResult {
  statistic: number;
  /** Two-sided p-value. */
  pValue: number;
  df: number;
  meanDifference: number;
}

/**
 * Paired t-test of a against b (two-sided), as scipy.stats.ttest_rel. Identical samples give
 * statistic 0 and p 1 (SciPy gives NaN); a constant non-zero difference gives ±Infinity and p 0.
 * @example pairedTTest([0.1, 0.4, 0.35], [0.05, 0.3, 0.4]).pValue
 */
export function pairedTTest(a: ArrayLike<number>, b: ArrayLike<number>): TTestResult {
  if (a.length !== b.length) throw new SemidArgumentError('b', `${a.length} values paired with a`, b.length);
  if (a.length < 2) throw new SemidArgumentError('a', 'at least 2 paired values', a.length);
  const n = a.length;
  const d = Float64Array.from({ length: n }, (_, i) => a[i] - b[i]);
  const md = mean(d);
  const sd = std(d);
  const df = n - 1;
  if (sd === 0) return md === 0 ? { statistic: 0, pValue: 1, df, meanDifference: 0 } : { statistic: md > 0 ? Infinity : -Infinity, pValue: 0, df, meanDifference: md };
  const t = md / (sd / Math.sqrt(n));
  const p = incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return { statistic: t, pValue: Math.min(1, p), df, meanDifference: md };
}

/**
 * Bonferroni: each p-value times the number of comparisons, capped at 1.
 * @example bonferroni([0.01, 0.2], 3) // [0.03, 0.6]
 */
export function bonferroni(pValues: number[], comparisons = pValues.length): number[] {
  return pValues.map((p) => Math.min(1, p * comparisons));
}
