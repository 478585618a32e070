#!/usr/bin/env node
// `npm run bench [-- <name> ...]`: runs the named benchmarks (default: all) and appends their
// results to bench/RESULTS.md. Needs `npm run build` (dist/) and the native addon.
const all = ['gemm', 'nearest', 'rqkmeans', 'quantizers', 'beam', 'svd', 'data', 'train', 't5', 'serve'];
const names = process.argv.slice(2).length ? process.argv.slice(2) : all;
for (const name of names) {
  if (!all.includes(name)) {
    console.error(`unknown benchmark "${name}"; choose from: ${all.join(', ')}`);
    process.exit(2);
  }
  const mod = await import(`./${name}.mjs`);
  await mod.run();
}
