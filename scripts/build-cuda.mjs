#!/usr/bin/env node
// `npm run build:cuda`: the CUDA-enabled addon through cmake-js into build-cuda/Release/semid.node
// (sm_80 + sm_90 + PTX, CUDA runtime linked statically). Where nvcc is missing it says so and
// leaves the CPU build (binding.gyp) as the only addon. SEMID_CUDA_ARCH overrides the targets.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function findNvcc() {
  const fromPath = spawnSync('nvcc', ['--version'], { encoding: 'utf8' });
  if (fromPath.status === 0) return 'nvcc';
  for (const dir of [process.env.CUDA_PATH, process.env.CUDA_HOME, '/usr/local/cuda']) {
    if (dir && existsSync(join(dir, 'bin', 'nvcc'))) return join(dir, 'bin', 'nvcc');
  }
  return undefined;
}

const nvcc = findNvcc();
if (!nvcc) {
  console.log('semid: nvcc not found; skipping the CUDA build (the CPU addon from `npm install` is used).');
  process.exit(0);
}
const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
const args = [cmakeJs, 'compile', '-d', root, '-O', join(root, 'build-cuda'), '--parallel', '4',
  `--CDNODE_ADDON_API_DIR=${require('node-addon-api').include_dir}`,
  `--CDCMAKE_CUDA_COMPILER=${nvcc === 'nvcc' ? spawnSync('which', ['nvcc'], { encoding: 'utf8' }).stdout.trim() : nvcc}`,
  '--CDSEMID_NATIVE_TESTS=OFF', '--CDSEMID_ADDON=ON'];
if (process.env.SEMID_CUDA_ARCH) args.push(`--CDCMAKE_CUDA_ARCHITECTURES=${process.env.SEMID_CUDA_ARCH}`);
const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
