/** `semid serve`: an HTTP server that answers searches and recommendations from a trained model. */
import { parseArgs } from 'node:util';
import type { AddressInfo } from 'node:net';
import { SemidArgumentError } from '../kernels/errors.js';
import { STRATEGIES, QUANTIZERS } from '../ids/strategies.js';
import { AskBatcher, type Servable } from '../pipeline/ask-batcher.js';
import { GenerativeRetriever } from '../pipeline/retriever.js';
import { createAskServer } from '../pipeline/serve.js';
import { checkModelFlags, modelOfFlags } from './ask.js';
import { retrieverOfFlags } from './ask-model.js';
import { numberFlag, withFlagNames } from './flags.js';

export const SERVE_USAGE = `Usage: semid serve --run <dir> [--strategy ${STRATEGIES.join('|')}]
                   [--quantizer ${QUANTIZERS.join('|')}] [--seed 0] [--collisions keep|dedup]
                   [--host 127.0.0.1] [--port 8080] [--max-batch <n>] [--max-wait-ms 2] [--cors <origin>|*] [--quiet]
       semid serve --model <T5 folder> --ids <ids.json|codes.npy> [--prompt "search: {query}"] [--id-prefix id]
                   [--history-prompt "recommend: {history}"] [--history-items 20] [...]

Serves the T5 that \`semid run\` trained in <dir> over HTTP (JSON). Requests that arrive together
are decoded as one batch of the trie-constrained diverse beam search (at most --max-batch queries;
an idle server waits --max-wait-ms for company), and each gets the answers it would get alone.

  GET  /search?q=space+robots&top=10          POST /search    {"query": "..."} or {"queries": [...]}
  GET  /recommend?user=42 | ?movies=1,260     POST /recommend {"user": 42} | {"movies": [...]} | {"items": [...]}
  GET  /health                                 the model served, and queries and batches so far
  GET  /metrics                                requests by route, status and latency, and the batches (Prometheus)

Options top, beams, groups and penalty (diversityPenalty in a body) default to 10 and the decoding
the run evaluated the model with (60, 30, 0.25 in the paper's profiles; /health shows them as
"defaults"). Errors come as {"error": {"code", "message", "parameter"}} with status 400 naming the
bad parameter. --cors lets pages of that origin (or any, with *) call it from a browser.
Each request is logged on standard error (time, method, path, status, ms) unless --quiet.
SIGINT or SIGTERM stops taking requests, answers those taken, and exits.
With --model, a T5 folder of your own and its items' IDs (as in \`semid search --model\`) instead of
a run's model: /search, /health and /metrics, answers naming items by their row in --ids, and
with --history-prompt /recommend?items=3,17 (POST {"items": [...]}: rows of --ids, oldest first).
`;

const OPTIONS = {
  run: { type: 'string' }, strategy: { type: 'string' }, quantizer: { type: 'string' }, seed: { type: 'string' }, collisions: { type: 'string' },
  model: { type: 'string' }, ids: { type: 'string' }, prompt: { type: 'string' }, 'id-prefix': { type: 'string' }, 'history-prompt': { type: 'string' }, 'history-items': { type: 'string' },
  host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string', default: '8080' },
  'max-batch': { type: 'string' }, 'max-wait-ms': { type: 'string' }, cors: { type: 'string' }, quiet: { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
} as const;

/** `semid serve --run <dir>`: resolves with the exit code once a signal has stopped the server. */
export async function serve(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  if (values.help || (values.run === undefined && values.model === undefined)) { process.stdout.write(SERVE_USAGE); return values.help ? 0 : 2; }
  checkModelFlags(values);
  if (positionals.length > 0) throw new SemidArgumentError('arguments', 'none besides the flags', positionals.join(' '));
  const port = numberFlag('port', values.port, { integer: true, min: 0 })!;
  if (port > 65535) throw new SemidArgumentError('--port', 'a port number 0-65535', values.port);
  const maxBatch = numberFlag('max-batch', values['max-batch'], { integer: true, min: 1 });
  const maxWaitMs = numberFlag('max-wait-ms', values['max-wait-ms'], { min: 0 });
  const m: Servable = values.model !== undefined ? await retrieverOfFlags(values) : await modelOfFlags(values);
  const dispose = () => (m instanceof GenerativeRetriever ? m.dispose() : m.model.dispose());
  // the model is disposed however the start fails (a bad flag, a port in use)
  let batcher: AskBatcher<Servable>;
  let served: ReturnType<typeof createAskServer>;
  try {
    batcher = await withFlagNames(['max-batch', 'max-wait-ms'], {}, async () => new AskBatcher<Servable>(m, { maxBatch, maxWaitMs }));
    served = await withFlagNames(['cors'], {}, async () => createAskServer(batcher, { cors: values.cors, log: values.quiet ? undefined : (line) => process.stderr.write(line + '\n') }));
    await new Promise<void>((resolve, reject) => {
      served.server.once('error', reject);
      served.server.listen(port, values.host, () => { served.server.off('error', reject); resolve(); });
    });
  } catch (err) {
    dispose();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new SemidArgumentError('--port', 'a free port (or 0 for any)', `${port}, which is in use`);
    throw err;
  }
  const { server, close } = served;
  const { address, port: bound } = server.address() as AddressInfo;
  const where = address.includes(':') ? `[${address}]` : address;
  const what = m instanceof GenerativeRetriever ? `${m.modelDir} (${m.items} items)` : `${m.strategy} / ${m.quantizer} / seed ${m.seed} (${m.dataset.items.length} items)`;
  process.stdout.write(`semid serve: ${what} on http://${where}:${bound}\n`);
  process.stdout.write(`  try: curl 'http://${where}:${bound}/search?q=space+robots&top=5'\n`);
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  process.stdout.write(`semid serve: ${signal}: answering the requests taken, then stopping\n`);
  await close();
  const s = batcher.stats();
  process.stdout.write(`semid serve: stopped after ${s.answered} queries in ${s.batches} batches\n`);
  dispose();
  return 0;
}
