#!/usr/bin/env node
// `npm run prebuilds`: fills prebuilds/ for packaging. The CPU addon through prebuildify (N-API,
// OpenBLAS not linked so it runs anywhere), then the CUDA build, when one exists in build-cuda/,
// copied to prebuilds/<platform>-<arch>-cuda/semid.node (the loader looks there).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const prebuildify = join(dirname(require.resolve('prebuildify/package.json')), 'bin.js');
const r = spawnSync(process.execPath, [prebuildify, '--napi', '--strip', '--target', process.version], {
  stdio: 'inherit', cwd: root, env: { ...process.env, SEMID_OPENBLAS: '0' },
});
if (r.status !== 0) process.exit(r.status ?? 1);
const cuda = join(root, 'build-cuda', 'Release', 'semid.node');
if (existsSync(cuda)) {
  const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}-cuda`);
  mkdirSync(dir, { recursive: true });
  copyFileSync(cuda, join(dir, 'semid.node'));
  console.log(`copied the CUDA build to ${dir}`);
} else {
  console.log('no CUDA build in build-cuda/ (run `npm run build:cuda` where nvcc exists); CPU prebuild only');
}
