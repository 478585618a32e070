/**
 * `semid quantize --quantizer dictionary|rlfq|rqvae` and `--quantizer-file`: the other quantizers
 * of the study's ablation on an embeddings .npy, trained (and saved as JSON) or loaded to encode
 * new items; codes and statistics as RQ-KMeans' path writes them.
 */
import { mkdirSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { readNpyMatrix } from '../data/npy.js';
import { SemidArgumentError } from '../kernels/errors.js';
import { fitQuantizer, loadQuantizer, QUANTIZERS } from '../ids/strategies.js';
import { quantizerStats, saveQuantizer, type Quantizer, type QuantizerName } from '../ids/quantizer.js';
import { initRuntime } from '../model/runtime/backend.js';
import { numberFlag } from './flags.js';
import { quantizeReport } from './quantize-report.js';
import { dtypeFlag, writeCodes } from './quantize-codes.js';

export interface PeerFlags {
  quantizer?: string;
  'quantizer-file'?: string;
  levels?: string;
  codebook?: string;
  iters?: string;
  seed?: string;
  out?: string;
  'save-quantizer'?: string;
  dtype?: string;
  dedup?: boolean;
  'dedup-after'?: string;
  json?: boolean;
}

/** Train (or load) a quantizer other than the native RQ-KMeans path and encode `input`. */
export async function quantizeWithPeer(values: PeerFlags, input: string): Promise<number> {
  const dtypeGiven = dtypeFlag(values.dtype);
  const out = values.out ?? join(dirname(input), `${basename(input, extname(input))}.codes.npy`);
  const savePath = values['save-quantizer'] ?? join(dirname(out), `${basename(out, extname(out)).replace(/\.codes$/, '')}.quantizer.json`);
  mkdirSync(dirname(out), { recursive: true });
  await initRuntime();  // RQ-VAE trains in TensorFlow.js
  const x = readNpyMatrix(input);
  const started = performance.now();
  let q: Quantizer;
  if (values['quantizer-file']) {
    q = loadQuantizer(values['quantizer-file']);
    if (q.dim !== x.cols) throw new SemidArgumentError('<new.npy>', `rows of dimension ${q.dim} (as in ${values['quantizer-file']})`, `rows of dimension ${x.cols}`);
  } else {
    const name = values.quantizer as QuantizerName;
    if (!QUANTIZERS.includes(name)) throw new SemidArgumentError('--quantizer', QUANTIZERS.join(', '), values.quantizer);
    const int = (flag: 'levels' | 'codebook' | 'iters' | 'seed', fallback: number) => numberFlag(flag, values[flag], { integer: true, min: flag === 'seed' ? 0 : 1 }) ?? fallback;
    q = await fitQuantizer(name, x.data, x.cols, { levels: int('levels', 2), codebookSize: int('codebook', 256), iters: values.iters === undefined ? undefined : int('iters', 1), seed: int('seed', 0) });
    mkdirSync(dirname(savePath), { recursive: true });
    saveQuantizer(savePath, q);
    process.stderr.write(`quantizer: ${savePath}\n`);
  }
  try {
    if (dtypeGiven === 'uint8' && q.codebookSize > 256) throw new SemidArgumentError('--dtype', `"uint16" or "uint32" (uint8 holds codes below 256; the codebook has ${q.codebookSize})`, dtypeGiven);
    const codes = await q.encode(x.data);
    const stats = await quantizerStats(q, x.data, codes);
    const seconds = (performance.now() - started) / 1e3;
    const written = writeCodes(out, codes, x.rows, q.levels, { dtype: dtypeGiven, dedup: values.dedup, dedupAfter: values['dedup-after'] });
    if (values.json) {
      process.stdout.write(JSON.stringify({ out, quantizer: q.name, seconds, ...stats, ...written }, null, 2) + '\n');
    } else {
      process.stdout.write(quantizeReport({
        items: `${x.rows} x ${x.cols}`, rows: x.rows, quantizer: ['quantizer, levels x codebook', `${q.name}, ${q.levels} x ${q.codebookSize}`],
        stats, seconds, written, codes: out,
      }) + '\n');
    }
    return 0;
  } finally {
    q.dispose?.();  // RQ-VAE's tensors
  }
}
