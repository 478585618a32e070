/** `semid embed <kind> --run <dir>`: one embedding space of the study, with its sanity metrics. */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { SemidArgumentError, SemidError } from '../kernels/errors.js';
import { initRuntime } from '../model/runtime/backend.js';
import { embedStage } from '../embed/stages.js';
import { EMBEDDING_KINDS, type EmbeddingKind } from '../embed/store.js';
import { table } from './format.js';
import { ProgressLine } from './progress.js';
import { numberFlag, withFlagNames } from './flags.js';

export const EMBED_USAGE = `Usage: semid embed <${EMBEDDING_KINDS.join('|')}> --run <dir> [--profile default|paper] [--epochs N] [--seed 42] [--eval-sample 5000] [--max-pairs N] [--encoder <sentence-transformers folder>]

Reads <dir>/data (semid data prepare), trains the space and writes <dir>/embeddings/<kind>.npy
(float32, items in movieId order) with a JSON sidecar, then prints its dense Recall@30 on test
queries and test users. search and multitask start from the content model (run content first);
fused-concat and fused-svd combine search and rec.
`;

export async function embed(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: { run: { type: 'string' }, profile: { type: 'string' }, epochs: { type: 'string' }, seed: { type: 'string' }, 'eval-sample': { type: 'string' }, 'max-pairs': { type: 'string' }, encoder: { type: 'string' }, help: { type: 'boolean', default: false } },
  });
  if (values.help || positionals.length === 0) { process.stdout.write(EMBED_USAGE); return values.help ? 0 : 2; }
  const kind = positionals[0] as EmbeddingKind;
  if (!EMBEDDING_KINDS.includes(kind)) throw new SemidArgumentError('kind', EMBEDDING_KINDS.join(', '), kind);
  if (!values.run) throw new SemidArgumentError('--run', 'a run folder', values.run);
  if (values.profile && values.profile !== 'default' && values.profile !== 'paper') throw new SemidArgumentError('--profile', '"default" or "paper"', values.profile);
  const int = (name: string, v: string | undefined) => numberFlag(name, v, { integer: true, min: 1 });
  const rt = await initRuntime();
  process.stderr.write(`semid embed: ${kind} on ${rt.description}\n`);
  const progress = new ProgressLine();
  const controller = new AbortController();
  const onSigint = () => controller.abort(new SemidError('ERR_SEMID_ABORTED', 'interrupted'));
  process.once('SIGINT', onSigint);
  try {
    const r = await withFlagNames(['epochs', 'seed', 'eval-sample', 'max-pairs', 'encoder'], {}, () => embedStage(kind, resolve(values.run!), {
      profile: values.profile as 'default' | 'paper' | undefined, epochs: int('epochs', values.epochs), seed: int('seed', values.seed),
      evalSample: int('eval-sample', values['eval-sample']), maxPairs: int('max-pairs', values['max-pairs']), encoder: values.encoder ? resolve(values.encoder) : undefined, signal: controller.signal,
      onProgress: (stage, p) => progress.update(p.step / p.totalSteps, `${stage} epoch ${p.epoch + 1} step ${p.step}/${p.totalSteps} loss ${p.meanLoss.toFixed(4)} ${p.examplesPerSecond.toFixed(0)} ex/s ETA ${p.etaSeconds.toFixed(0)} s`),
    }));
    progress.done();
    const f = (x: number | null) => (x === null ? '-' : x.toFixed(4));
    process.stdout.write(`\n${table([[r.kind, r.dim, f(r.metrics.searchRecall30), f(r.metrics.recRecall30), f(r.metrics.popularityRecall30), r.seconds.toFixed(1)]],
      ['space', 'dim', 'search R@30', 'rec R@30', 'popularity R@30', 'seconds'])}\nwrote ${r.path}\n`);
    return 0;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
