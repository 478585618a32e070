#!/usr/bin/env bash
# Build .device/ for a GPU machine without Node or node_modules: Node itself (xz), node-gyp-build,
# and scripts/device-train-check.mjs bundled with tfjs by esbuild, plus tfjs's wasm binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .device/bundle .device/nm
[ -f .device/node.xz ] || xz -T2 -c "$(command -v node)" > .device/node.xz
rm -rf .device/nm/node-gyp-build && cp -r node_modules/node-gyp-build .device/nm/
npx esbuild scripts/device-train-check.mjs --bundle --platform=node --format=esm --outfile=.device/bundle/train-check.mjs \
  --external:node-gyp-build --log-level=warning \
  --banner:js="import { createRequire as __cr } from 'node:module'; import { fileURLToPath as __fu } from 'node:url'; import { dirname as __dn } from 'node:path'; const require = __cr(import.meta.url); const __filename = __fu(import.meta.url); const __dirname = __dn(__filename);"
cp node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm .device/bundle/
du -sh .device/*
npx esbuild scripts/device-node-check.mjs --bundle --platform=node --format=esm --outfile=.device/bundle/node-check.mjs \
  --external:node-gyp-build --log-level=error \
  --banner:js="import { createRequire as __cr } from 'node:module'; import { fileURLToPath as __fu } from 'node:url'; import { dirname as __dn } from 'node:path'; const require = __cr(import.meta.url); const __filename = __fu(import.meta.url); const __dirname = __dn(__filename);"
