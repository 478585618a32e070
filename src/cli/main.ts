/** The `semid` command line: dispatches to one module per command. */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../native/loader.js';
import { doctor } from './doctor.js';
import { quantize } from './quantize.js';
import { data } from './data.js';
import { embed } from './embed.js';
import { ids } from './ids.js';
import { run } from './run.js';

const USAGE = `Usage: semid <command> [options]

Commands:
  doctor [--json]     show the native backend: addon, CUDA device, SIMD, threads, OpenBLAS
  run                 the study end to end: report.md with the paper's tables (semid run --help)
  data prepare        MovieLens -> the joint search & recommendation data set (semid data --help)
  data download       fetch an official MovieLens archive
  embed <kind>        an embedding space of the study (semid embed --help)
  ids <strategy>      Semantic IDs of a strategy and quantizer (semid ids --help)
  quantize <x.npy>    RQ-KMeans Semantic IDs for embeddings (semid quantize --help)
  help                show this text
  version             print the version
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'doctor': {
      const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean', default: false } } });
      return doctor({ json: values.json ?? false });
    }
    case 'quantize':
      return quantize(rest);
    case 'data':
      return data(rest);
    case 'embed':
      return embed(rest);
    case 'ids':
      return ids(rest);
    case 'run':
      return run(rest);
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
