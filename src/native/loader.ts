/**
 * Finds and loads the native addon. Order: $SEMID_ADDON (a path), then a CUDA-enabled build
 * (build-cuda/ from `npm run build:cuda`, or prebuilds/<platform>-<arch>-cuda/) when it loads and
 * sees a device, then the CPU build through node-gyp-build (build/Release or prebuilds/), then a
 * CUDA-enabled build without a device (its CPU kernels are the same).
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RawAddon } from './types.js';
import { warnEnvProblems } from './env-check.js';

const require = createRequire(import.meta.url);

/** The package root (the folder holding package.json), from src/native or dist/native. */
export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface LoadedAddon {
  addon: RawAddon;
  /** Absolute path of the .node file. */
  path: string;
  /** Whether this build contains CUDA kernels. */
  cudaBuild: boolean;
  /** Paths tried that failed to load, with the reason. */
  skipped: string[];
  /** A CUDA-enabled build that loaded but was not used, and why (no device). */
  cudaProbe?: { path: string; reason: string };
}

let cached: LoadedAddon | undefined;

function tryLoad(path: string, skipped: string[]): RawAddon | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return require(path) as RawAddon;
  } catch (err) {
    skipped.push(`${path}: ${(err as Error).message}`);
    return undefined;
  }
}

function cudaCandidates(): string[] {
  const tag = `${process.platform}-${process.arch}`;
  return [
    join(packageRoot, 'build-cuda', 'Release', 'semid.node'),
    join(packageRoot, 'prebuilds', `${tag}-cuda`, 'semid.node'),
  ];
}

/** Load (once) and return the addon. Throws an Error with code ERR_SEMID_NO_ADDON if none loads. */
export function loadAddon(): LoadedAddon {
  if (cached) return cached;
  warnEnvProblems();
  const skipped: string[] = [];
  const explicit = process.env.SEMID_ADDON;
  if (explicit) {
    const addon = tryLoad(resolve(explicit), skipped);
    if (!addon) throw noAddon(skipped, `SEMID_ADDON=${explicit} did not load`);
    cached = { addon, path: resolve(explicit), cudaBuild: addon.info().cuda.compiled, skipped };
    return cached;
  }
  let cudaFallback: LoadedAddon | undefined;
  for (const path of cudaCandidates()) {
    const addon = tryLoad(path, skipped);
    if (!addon) continue;
    const loaded = { addon, path, cudaBuild: true, skipped };
    if (addon.info().cuda.deviceCount > 0) return (cached = loaded);
    cudaFallback ??= loaded;
  }
  try {
    const gypBuild = require('node-gyp-build') as { path(dir: string): string };
    const path = gypBuild.path(packageRoot);
    const addon = require(path) as RawAddon;
    const cudaProbe = cudaFallback && { path: cudaFallback.path, reason: cudaFallback.addon.info().cuda.reason };
    cached = { addon, path, cudaBuild: addon.info().cuda.compiled, skipped, cudaProbe };
    return cached;
  } catch (err) {
    skipped.push(`node-gyp-build: ${(err as Error).message.split('\n')[0]}`);
  }
  if (cudaFallback) return (cached = cudaFallback);
  throw noAddon(skipped, 'no native addon could be loaded');
}

function noAddon(skipped: string[], what: string): Error {
  const err = new Error(
    `semid: ${what}. Build it with \`npm run build:native\` (CPU) or \`npm run build:cuda\`.` +
      (skipped.length ? `\nTried:\n  ${skipped.join('\n  ')}` : ''),
  ) as Error & { code: string };
  err.code = 'ERR_SEMID_NO_ADDON';
  return err;
}

/** The addon, or null when none loads (callers with a JavaScript fallback use this). */
export function tryLoadAddon(): RawAddon | null {
  try {
    return loadAddon().addon;
  } catch {
    return null;
  }
}
