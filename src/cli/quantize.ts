/**
 * `semid quantize`: train RQ-KMeans codebooks on embeddings (.npy) and write the codes, or encode
 * new (cold-start) items with saved codebooks.
 */
import { parseArgs } from 'node:util';
import { existsSync, mkdirSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { readNpyMatrix } from '../data/npy.js';
import { RQKMeans, type Codes, type RQProgress, type RQStats } from '../kernels/rqkmeans.js';
import { openNpyRows } from '../data/npy-rows.js';
import { quantizeNpyFile, shouldStream } from '../ids/quantize-file.js';
import { SemidArgumentError } from '../kernels/errors.js';
import type { Device } from '../kernels/device.js';
import { quantizeReport } from './quantize-report.js';
import { dtypeFlag, writeCodes } from './quantize-codes.js';
import { ProgressLine } from './progress.js';
import { numberFlag, withFlagNames } from './flags.js';

export const QUANTIZE_USAGE = `Usage:
  semid quantize <embeddings.npy> [--levels 2] [--codebook 256] [--iters 20] [--tol 1e-4]
                 [--seed 0] [--init kmeans++|random] [--beam 1] [--max-train N]
                 [--device auto|cpu|cuda] [--threads N] [--out codes.npy]
                 [--save-codebooks codebooks.npy] [--dtype uint16|uint32|uint8] [--chunk-rows N]
                 [--dedup] [--json]
  semid quantize --codebooks <codebooks.npy> <new.npy> [--beam 1] [--out codes.npy]
                 [--dedup-after catalogue-codes.npy] ...
  semid quantize --quantizer dictionary|rlfq|rqvae <embeddings.npy> [--levels 2] [--codebook 256]
                 [--iters N] [--seed 0] [--out codes.npy] [--save-quantizer q.json] [--dtype ...] [--json]
  semid quantize --quantizer-file <q.json> <new.npy> [--out codes.npy] ...

Trains residual k-means codebooks (level l clusters the residuals of levels 0..l-1), writes the
codes [n x levels] as .npy (uint16 by default; uint8 for codebooks of up to 256) and the
codebooks [levels x K x dim] beside them, and prints reconstruction error, codebook usage,
perplexity and collisions.
With --codebooks, encodes new items with trained codebooks (no retraining).
--quantizer picks another quantizer of the study's ablation (mini-batch dictionary learning,
residual lookup-free quantization, RQ-VAE), trained on the whole file and saved as JSON beside the
codes; --quantizer-file encodes new items with one saved so (any of the four).
A file whose rows (as float32) take more than a quarter of memory, or any file with --chunk-rows N,
is read N rows at a time (default: 256 MiB of rows): codebooks are trained on a seeded sample of
--max-train rows (default 256 x codebook, as FAISS) and every row is encoded chunk by chunk.
--chunk-rows 0 reads the whole file into memory whatever its size.
--dedup appends a level that numbers the items sharing an ID (0 for the first, in row order), as
TIGER does, so that every item has an ID of its own. --dedup-after <codes.npy> (codes written with
--dedup) numbers new items after that catalogue's items of their ID. Without --dtype, codes that
do not fit in uint16 are written as uint32.
`;

const QUANTIZE_OPTIONS = {
  levels: { type: 'string' }, codebook: { type: 'string' }, iters: { type: 'string' }, tol: { type: 'string' },
  seed: { type: 'string' }, init: { type: 'string' }, beam: { type: 'string' }, 'max-train': { type: 'string' },
  device: { type: 'string' }, threads: { type: 'string' }, out: { type: 'string' }, codebooks: { type: 'string' },
  'save-codebooks': { type: 'string' }, dtype: { type: 'string' }, 'chunk-rows': { type: 'string' }, json: { type: 'boolean' },
  quantizer: { type: 'string' }, 'quantizer-file': { type: 'string' }, 'save-quantizer': { type: 'string' },
  dedup: { type: 'boolean' }, 'dedup-after': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The flags of RQKMeans.train / encode parameters whose names differ from the parameter's. */
const FLAG_OF_PARAMETER = { codebookSize: 'codebook', maxTrainPoints: 'max-train' };

/** Whether the embeddings file's rows as float32 would take more than a quarter of memory (unreadable files: no, and the reader says why). */
function tooLargeForMemory(path: string): boolean {
  try {
    const reader = openNpyRows(path);
    reader.close();
    return shouldStream(reader.rows, reader.cols);
  } catch {
    return false;
  }
}

/** The whole number a flag holds, or its default. */
const intFlag = (name: string, value: string | undefined, fallback: number) => numberFlag(name, value, { integer: true }) ?? fallback;

type QuantizeFlags = ReturnType<typeof parseQuantizeArgs>;

function parseQuantizeArgs(argv: string[]) {
  return parseArgs({ args: argv, allowPositionals: true, options: QUANTIZE_OPTIONS });
}

export async function quantize(argv: string[]): Promise<number> {
  const { values, positionals } = parseQuantizeArgs(argv);
  return withFlagNames(Object.keys(QUANTIZE_OPTIONS), FLAG_OF_PARAMETER, () => quantizeWith(values, positionals));
}

async function quantizeWith(values: QuantizeFlags['values'], positionals: string[]): Promise<number> {
  if (values.help) {
    process.stdout.write(QUANTIZE_USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    process.stderr.write(`semid quantize: expected one embeddings .npy file, got ${positionals.length}\n\n${QUANTIZE_USAGE}`);
    return 2;
  }
  const input = positionals[0];
  const dedupAfter = values['dedup-after'];
  if (dedupAfter !== undefined) {
    // numbers continue a catalogue's only when its codes and the new ones come from one quantizer
    if (values.codebooks === undefined && values['quantizer-file'] === undefined) throw new SemidArgumentError('--dedup-after', '--codebooks or --quantizer-file too (the new items encoded with the catalogue\'s quantizer)', dedupAfter);
    if (!existsSync(dedupAfter)) throw new SemidArgumentError('--dedup-after', 'an existing codes .npy written with --dedup', dedupAfter);
  } else if (values.dedup && (values.codebooks !== undefined || values['quantizer-file'] !== undefined)) {
    // new items numbered among themselves can take the IDs of the catalogue's items
    process.stderr.write('semid quantize: --dedup numbers these items among themselves; to number new items after a catalogue\'s, give its codes with --dedup-after <codes.npy>\n');
  }
  if (values['quantizer-file'] !== undefined || (values.quantizer !== undefined && values.quantizer !== 'rqkmeans')) {
    for (const flag of ['codebooks', 'save-codebooks', 'chunk-rows', 'beam', 'tol', 'init', 'max-train', 'device'] as const) {
      if (values[flag] !== undefined) throw new SemidArgumentError(`--${flag}`, `no --${flag} with --quantizer ${values.quantizer ?? '(from --quantizer-file)'} (RQ-KMeans only)`, values[flag]);
    }
    return (await import('./quantize-peer.js')).quantizeWithPeer(values, input);
  }
  if (values['save-quantizer'] !== undefined) throw new SemidArgumentError('--save-quantizer', 'no --save-quantizer for RQ-KMeans (it saves --save-codebooks)', values['save-quantizer']);
  const dtypeGiven = dtypeFlag(values.dtype);
  const dtype = dtypeGiven ?? 'uint16';
  const device = (values.device ?? 'auto') as Device;
  const threads = intFlag('threads', values.threads, 0);
  const out = values.out ?? join(dirname(input), `${basename(input, extname(input))}.codes.npy`);
  const codebooksOut = values['save-codebooks'] ?? join(dirname(out), `${basename(out, extname(out)).replace(/\.codes$/, '')}.codebooks.npy`);
  const codebookSize = intFlag('codebook', values.codebook, 256);
  if (dtype === 'uint8' && !values.codebooks && codebookSize > 256) throw new SemidArgumentError('--dtype', `"uint16" or "uint32" (uint8 holds codes below 256; --codebook is ${codebookSize})`, dtype);
  // the folders the results go to exist (or fail) before any training
  mkdirSync(dirname(out), { recursive: true });
  if (!values.codebooks) mkdirSync(dirname(codebooksOut), { recursive: true });

  // --chunk-rows N streams N rows at a time, 0 reads the whole file; by default only a file too
  // large for memory is streamed
  const chunkFlag = numberFlag('chunk-rows', values['chunk-rows'], { integer: true, min: 0 });
  const stream = chunkFlag === undefined ? tooLargeForMemory(input) : chunkFlag > 0;
  const chunkRows = chunkFlag || undefined;
  const controller = new AbortController();
  const onSigint = () => controller.abort(new Error('interrupted (SIGINT)'));
  process.once('SIGINT', onSigint);
  const progress = new ProgressLine();
  try {
    let model: RQKMeans;
    let codes: Codes;
    let stats: RQStats;
    let shape: { rows: number; cols: number; dtype: string };
    const started = performance.now();
    const beamArg = values.beam === undefined ? undefined : intFlag('beam', values.beam, 1);
    const levels = intFlag('levels', values.levels, 2);
    const iters = intFlag('iters', values.iters, 20);
    const train = {
      levels, codebookSize, iters, tol: numberFlag('tol', values.tol) ?? 1e-4,
      seed: intFlag('seed', values.seed, 0), init: (values.init ?? 'kmeans++') as 'kmeans++' | 'random',
      beam: beamArg ?? 1, maxTrainPoints: intFlag('max-train', values['max-train'], 0), device, threads,
      onProgress: (e: RQProgress) => progress.update((e.level + (e.iteration + 1) / Math.max(1, iters)) / levels,
        `level ${e.level + 1}/${levels}  iteration ${e.iteration + 1}/${iters}  relative error ${e.relativeError.toFixed(4)}  changed ${e.changed}`),
    };
    const loadCodebooks = (path: string) => {
      const m = RQKMeans.load(path);
      if (dtype === 'uint8' && m.codebookSize > 256) throw new SemidArgumentError('--dtype', `"uint16" or "uint32" (uint8 holds codes below 256; ${path} has ${m.codebookSize})`, dtype);
      return m;
    };
    if (stream) {
      // rows read a chunk at a time: files larger than memory
      const r = await quantizeNpyFile(input, {
        model: values.codebooks ? loadCodebooks(values.codebooks) : undefined, train, chunkRows,
        encode: { beam: beamArg, device, threads }, signal: controller.signal,
        onChunk: (done, rows) => progress.update(done / rows, `encoded ${done.toLocaleString('en-US')} / ${rows.toLocaleString('en-US')} rows`),
      });
      progress.done();
      ({ model, codes, stats } = r);
      shape = { rows: r.rows, cols: r.cols, dtype: r.dtype };
      if (r.trainRows > 0) process.stderr.write(`trained on a sample of ${r.trainRows.toLocaleString('en-US')} of ${r.rows.toLocaleString('en-US')} rows, encoded them all in chunks\n`);
    } else {
      const x = readNpyMatrix(input);
      shape = x;
      if (values.codebooks) {
        model = loadCodebooks(values.codebooks);
        if (model.dim !== x.cols) {
          throw new SemidArgumentError('<new.npy>', `rows of dimension ${model.dim} (as in ${values.codebooks})`, `rows of dimension ${x.cols}`);
        }
        codes = await model.encode(x, { beam: beamArg ?? 1, device, threads, signal: controller.signal });
      } else {
        model = await RQKMeans.train(x, { ...train, signal: controller.signal });
        progress.done();
        codes = model.trainingCodes ?? (await model.encode(x, { device, threads, signal: controller.signal }));
      }
      stats = model.stats(x, codes);
    }
    if (!values.codebooks) {
      model.save(codebooksOut);
      process.stderr.write(`codebooks: ${codebooksOut}\n`);
    }
    const seconds = (performance.now() - started) / 1e3;
    const written = writeCodes(out, codes.data, codes.n, codes.levels, { dtype: dtypeGiven, dedup: values.dedup, dedupAfter: values['dedup-after'] });
    if (values.json) {
      process.stdout.write(JSON.stringify({ out, seconds, ...stats, ...written }, null, 2) + '\n');
    } else {
      process.stdout.write(quantizeReport({
        items: `${shape.rows} x ${shape.cols} (${shape.dtype})`, rows: shape.rows, quantizer: ['levels x codebook', `${model.levels} x ${model.codebookSize}`],
        stats, seconds, written, codes: out,
      }) + '\n');
    }
    return 0;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}
