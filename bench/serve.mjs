// `semid serve` under concurrent load: the study's decoding (beam 60, 30 groups, penalty 0.25) of a
// trained run's model over HTTP, with dynamic batching (AskBatcher) against the same server
// decoding one request at a time (maxBatch 1: what calling askSearch per request gives), in one
// process. Needs a run: `node bench/serve.mjs [<run dir>]` (default runs/quick; `semid run --profile quick`).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawn } from 'node:child_process';
import { appendResults, benchDir, root } from './lib.mjs';

const { initRuntime, loadRunModel, AskBatcher, createAskServer } = await import(join(root, 'dist', 'index.js'));

/**
 * `clients` closed-loop clients, each sending `each` GET /search requests one after another, run
 * in a child process (bench/serve-load.mjs) so that the clients do not share the server's event loop.
 */
function load(base, queries, clients, each) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(benchDir, 'serve-load.mjs'), base, String(clients), String(each)], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('exit', (code) => (code === 0 ? resolvePromise(JSON.parse(out)) : reject(new Error(`serve-load exited ${code}`))));
    child.stdin.end(JSON.stringify(queries));
  });
}

async function serving(m, batcherOptions, fn) {
  const batcher = new AskBatcher(m, batcherOptions);
  const { server, close } = createAskServer(batcher);
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  try {
    return { ...(await fn(`http://127.0.0.1:${server.address().port}`)), batches: batcher.stats().batches };
  } finally {
    await close();
  }
}

export async function run(runDir = process.argv[2] ?? join(root, 'runs', 'quick')) {
  if (!existsSync(join(runDir, 't5'))) {
    console.log(`bench/serve: no trained run in ${runDir} (make one with \`semid run --profile quick\`, or name one): skipped`);
    return;
  }
  await initRuntime();
  const m = loadRunModel(resolve(runDir));
  const queries = m.dataset.search.test.map((e) => e.query);
  const rows = [];
  const notes = [`run ${runDir}: ${m.strategy} / ${m.quantizer}, ${m.dataset.items.length} items, T5 ${m.model.config.numLayers} layers d${m.model.config.dModel}, vocab ${m.model.config.vocabSize}; beam 60, 30 groups, penalty 0.25, top 30; GET /search over loopback`];
  for (const o of [{}, { maxBatch: 1 }]) await serving(m, o, (base) => load(base, queries, 8, 4));  // warm-up: both sides' batch shapes
  for (const [clients, each] of [[1, 32], [8, 8], [32, 4], [128, 2]]) {
    const shape = `${clients} clients x ${each} requests`;
    // alternate the order between shapes so that drift does not favour one side
    const order = clients % 16 === 0 ? ['batched', 'one'] : ['one', 'batched'];
    const got = {};
    for (const side of order) got[side] = await serving(m, side === 'one' ? { maxBatch: 1 } : {}, (base) => load(base, queries, clients, each));
    rows.push({ name: 'semid serve, dynamic batching', shape, ms: got.batched.wall });
    rows.push({ name: 'one request at a time (maxBatch 1)', shape, ms: got.one.wall });
    notes.push(`${shape}: batched ${got.batched.qps.toFixed(1)} queries/s (p50 ${got.batched.p50.toFixed(0)} ms, p95 ${got.batched.p95.toFixed(0)} ms, ${got.batched.batches} batches) vs one at a time ${got.one.qps.toFixed(1)} queries/s (p50 ${got.one.p50.toFixed(0)} ms, p95 ${got.one.p95.toFixed(0)} ms): ${(got.batched.qps / got.one.qps).toFixed(2)}x the throughput`);
    console.log(notes[notes.length - 1]);
  }
  m.model.dispose();
  appendResults('`semid serve`: dynamic batching under concurrent requests (bench/serve)', rows, 'semid serve, dynamic batching', notes);
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
