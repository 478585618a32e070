import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/semid.js', import.meta.url));
const built = existsSync(fileURLToPath(new URL('../dist/cli/main.js', import.meta.url)));
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

describe.skipIf(!built)('semid CLI', () => {
  it('names SEMID_* values the native core ignores (doctor, and a Node warning once a process)', () => {
    const env = { ...process.env, SEMID_THREADS: 'four', SEMID_SIMD: 'sse', SEMID_SPIN_US: '20' };
    const r = spawnSync(process.execPath, [bin, 'doctor', '--json'], { encoding: 'utf8', env });
    expect(JSON.parse(r.stdout).envProblems).toEqual([
      'SEMID_THREADS="four" is not a positive integer: ignored, every core is used',
      'SEMID_SIMD="sse" is not scalar, avx2 or avx512: ignored, the CPU\'s best SIMD path is used',
    ]);
    expect(r.stderr.match(/\[SEMID_ENV\] Warning: SEMID_THREADS="four"/g)).toHaveLength(1);
    const fine = spawnSync(process.execPath, [bin, 'doctor', '--json'], { encoding: 'utf8', env: { ...process.env, SEMID_THREADS: '2' } });
    expect(JSON.parse(fine.stdout).envProblems).toEqual([]);
    expect(fine.stderr).not.toMatch(/SEMID_ENV/);
  });

  it('doctor prints the addon, backends, CUDA status, SIMD, threads and OpenBLAS', () => {
    const r = run('doctor');
    expect(r.status).toBe(0);
    for (const key of ['addon', 'backends', 'cuda device', 'simd', 'threads', 'openblas']) expect(r.stdout).toContain(key);
    expect(r.stdout).toMatch(/semid\.node/);
  });
  it('doctor --json is machine-readable', () => {
    const r = run('doctor', '--json');
    const info = JSON.parse(r.stdout);
    expect(info.backends).toContain('cpu');
    expect(typeof info.threads).toBe('number');
    // Idle pool workers sleep at once unless SEMID_SPIN_US asks them to poll (read by the native pool).
    const spinOf = (value?: string) => {
      const env = { ...process.env };
      delete env.SEMID_SPIN_US;
      if (value !== undefined) env.SEMID_SPIN_US = value;
      return JSON.parse(spawnSync(process.execPath, [bin, 'doctor', '--json'], { encoding: 'utf8', env }).stdout).threadSpinUs;
    };
    expect(spinOf()).toBe(0);
    expect(spinOf('1500')).toBe(1500);
    expect(spinOf('nonsense')).toBe(0);
    expect(typeof info.cuda.reason).toBe('string');
  });
  it("'semid/core' loads the native core without TensorFlow.js; 'semid' adds the model", () => {
    const script = "const core = await import('semid/core'); const a = typeof globalThis._tfengine; const full = await import('semid');" +
      " console.log(JSON.stringify({ a, b: typeof globalThis._tfengine, core: Object.keys(core).length, full: Object.keys(full).length, same: full.RQKMeans === core.RQKMeans }));";
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', cwd: fileURLToPath(new URL('..', import.meta.url)) });
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.a).toBe('undefined');
    expect(j.b).toBe('object');
    expect(j.full).toBeGreaterThan(j.core);
    expect(j.same).toBe(true);
  });

  it('an unknown command exits 2 with usage', () => {
    const r = run('frobnicate');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown command "frobnicate"/);
  });
});
