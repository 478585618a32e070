// Builds the C++ parity binary with CMake (CPU only, every SIMD path this CPU has) and runs it.
// Skipped when cmake is not installed.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const hasCmake = spawnSync('cmake', ['--version']).status === 0;

describe.skipIf(!hasCmake)('native parity binary (C++, no Node)', () => {
  it('all CPU paths match the oracle', () => {
    const build = join(tmpdir(), `semid-native-${process.pid}`);
    const cfg = spawnSync('cmake', ['-S', root, '-B', build, '-DSEMID_ADDON=OFF', '-DSEMID_CUDA=OFF'], { encoding: 'utf8' });
    expect(cfg.status, cfg.stderr).toBe(0);
    const make = spawnSync('cmake', ['--build', build, '-j', '2', '--target', 'semid_parity'], { encoding: 'utf8' });
    expect(make.status, make.stderr + make.stdout).toBe(0);
    const run = spawnSync(join(build, 'semid_parity'), { encoding: 'utf8' });
    expect(run.stdout).toMatch(/\d+ passed, 0 failed/);
    expect(run.status).toBe(0);
  }, 300_000);
});
