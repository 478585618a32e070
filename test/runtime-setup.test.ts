import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

// Each case runs in a fresh Node process, against the build (npm install makes it): TensorFlow.js's
// engine is process-wide, so a test file that called initRuntime would hide what a new user meets.
const root = join(__dirname, '..');
const built = existsSync(join(root, 'dist', 'index.js'));
function fresh(script: string): { status: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

describe.skipIf(!built)('TensorFlow.js set-up, as a new user meets it', () => {
  it('tensors before initRuntime: a clear error naming it; the quantizers set it up themselves', () => {
    const r = fresh(`
      import { T5Model, T5_PRESETS, RqVaeQuantizer, runtimeInfo } from './dist/index.js';
      const config = { ...T5_PRESETS.tiny, vocabSize: 50 };
      try { T5Model.create(config, 1); console.log('made'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }
      const x = Float32Array.from({ length: 400 }, (_, i) => Math.sin(i));
      const q = await RqVaeQuantizer.fit(x, 4, { levels: 1, codebookSize: 4, iters: 1 });
      console.log((await q.encode(x)).length, runtimeInfo()?.backend);
      T5Model.create(config, 1).dispose();
      console.log('made after');
    `);
    expect(r.status, r.err).toBe(0);
    const [first, second, third] = r.out.trim().split('\n');
    const err = JSON.parse(first);
    expect(err.code).toBe('ERR_SEMID_NO_RUNTIME');
    expect(err.message).toMatch(/a T5Model runs on TensorFlow\.js.*call `await initRuntime\(\)` first/);
    expect(second).toMatch(/^100 (wasm|tensorflow|cpu)$/);
    expect(third).toBe('made after');
  });

  it("a backend the caller set up is kept: no error, and initRuntime is not run behind its back", () => {
    const r = fresh(`
      import * as tf from '@tensorflow/tfjs-core';
      import '@tensorflow/tfjs-backend-cpu';
      import { T5Model, T5_PRESETS, RqVaeQuantizer, runtimeInfo } from './dist/index.js';
      await tf.setBackend('cpu');
      T5Model.create({ ...T5_PRESETS.tiny, vocabSize: 50 }, 1).dispose();
      await RqVaeQuantizer.fit(Float32Array.from({ length: 400 }, (_, i) => Math.cos(i)), 4, { levels: 1, codebookSize: 4, iters: 1 });
      console.log(tf.getBackend(), runtimeInfo());
    `);
    expect(r.status, r.err).toBe(0);
    expect(r.out.trim()).toBe('cpu null');
  });
});
