/** The `semid` command line: dispatches to one module per command. */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../native/loader.js';
// Commands are imported when they run: the training commands load TensorFlow.js, which the
// others (doctor, version, data, quantize) should not pay for at start-up.

const USAGE = `Usage: semid <command> [options]

Commands:
  doctor [--json]     show the native backend: addon, CUDA device, SIMD, threads, OpenBLAS
  run                 the study end to end: report.md with the paper's tables (semid run --help)
  data prepare        MovieLens -> the joint search & recommendation data set (semid data --help)
  data download       fetch an official MovieLens archive
  embed <kind>        an embedding space of the study (semid embed --help)
  ids <strategy>      Semantic IDs of a strategy and quantizer (semid ids --help)
  quantize <x.npy>    RQ-KMeans Semantic IDs for embeddings (semid quantize --help)
  search "<query>"    ask a model semid run (or train) made: the items a query names (semid search --help)
  recommend           ask a model semid run trained: items after a user's history (semid recommend --help)
  serve --run <dir>   serve a model semid run trained over HTTP, batching requests (semid serve --help)
  train --pairs <f>   train a T5 on your own (query, item) pairs to generate their IDs (semid train --help)
  help                show this text
  version             print the version
`;

/**
 * Run `semid <argv>`; resolves with the exit code. The wasm heap running out is reported as such.
 * @example process.exitCode = await main(['doctor']);
 */
export async function main(argv: string[]): Promise<number> {
  try {
    return await runCommand(argv);
  } catch (err) {
    // imported on failure only: commands that never start TensorFlow.js do not load it at start-up
    throw (await import('../model/runtime/wasm-heap.js')).explainWasmHeapError(err);
  }
}

async function runCommand(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'doctor': {
      const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean', default: false } } });
      return (await import('./doctor.js')).doctor({ json: values.json ?? false });
    }
    case 'quantize':
      return (await import('./quantize.js')).quantize(rest);
    case 'data':
      return (await import('./data.js')).data(rest);
    case 'embed':
      return (await import('./embed.js')).embed(rest);
    case 'ids':
      return (await import('./ids.js')).ids(rest);
    case 'run':
      return (await import('./run.js')).run(rest);
    case 'search':
      return (await import('./ask.js')).search(rest);
    case 'recommend':
      return (await import('./ask.js')).recommend(rest);
    case 'serve':
      return (await import('./serve.js')).serve(rest);
    case 'train':
      return (await import('./train.js')).train(rest);
    case 'version':
    case '--version':
      process.stdout.write(JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')).version + '\n');
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    default:
      process.stderr.write(`semid: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}
