/**
 * The SEMID_* variables the native core reads, checked: a value it cannot use is ignored there (the
 * default stands), so it is reported here instead of passing without a word.
 */

/**
 * What the native core does with each variable, and whether a value is one it uses; each test is
 * the native parse's: atoi's leading integer (SEMID_THREADS, SEMID_CUDA_DEVICE), a whole strtoll
 * integer (SEMID_SPIN_US), an exact name (SEMID_SIMD).
 */
const CHECKS: Array<{ name: string; ok: (v: string) => boolean; expected: string; otherwise: string }> = [
  { name: 'SEMID_THREADS', ok: (v) => Number.parseInt(v, 10) >= 1, expected: 'a positive integer', otherwise: 'every core is used' },
  { name: 'SEMID_SPIN_US', ok: (v) => /^\s*\+?\d+$/.test(v), expected: 'a non-negative integer (microseconds, at most 1000000)', otherwise: 'idle workers sleep at once' },
  { name: 'SEMID_SIMD', ok: (v) => ['scalar', 'avx2', 'avx512'].includes(v), expected: 'scalar, avx2 or avx512', otherwise: 'the CPU\'s best SIMD path is used' },
  { name: 'SEMID_CUDA_DEVICE', ok: (v) => /^\s*\+?\d/.test(v), expected: 'a device index (0, 1, ...)', otherwise: 'device 0 is used' },
];

/**
 * One line for each SEMID_* variable whose value the native core ignores.
 * @example envProblems({ SEMID_THREADS: 'four' }) // ['SEMID_THREADS="four" is not a positive integer: ignored, every core is used']
 */
export function envProblems(env: Record<string, string | undefined> = process.env): string[] {
  const out: string[] = [];
  for (const c of CHECKS) {
    const v = env[c.name];
    if (v !== undefined && v !== '' && !c.ok(v)) out.push(`${c.name}=${JSON.stringify(v)} is not ${c.expected}: ignored, ${c.otherwise}`);
  }
  return out;
}

let warned = false;

/** Emit each problem once per process as a Node warning (code SEMID_ENV). */
export function warnEnvProblems(): void {
  if (warned) return;
  warned = true;
  for (const p of envProblems()) process.emitWarning(p, { code: 'SEMID_ENV' });
}
