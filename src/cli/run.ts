/** `semid run --profile tiny|quick|small|paper --out <dir>`: the study end to end, resumable, with its report. */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { numberFlag } from './flags.js';
import { SemidArgumentError, SemidError } from '../kernels/errors.js';
import { runStudy, STUDY_PROFILES } from '../pipeline/study.js';
import { writeReport } from '../pipeline/report.js';
import { STRATEGIES, QUANTIZERS, expectCollisionPolicy, type Strategy } from '../ids/strategies.js';
import type { QuantizerName } from '../ids/quantizer.js';

export const RUN_USAGE = `Usage: semid run [--profile tiny|quick|small|paper] [--strategies a,b,...] [--quantizers rqkmeans,...]
                 [--seeds N] [--collisions keep|dedup] [--workers N] [--movielens <dir>] [--pretrained <dir>] --out <dir>

Runs data -> embeddings -> Semantic IDs -> joint T5 -> constrained decoding -> Recall@30 for every
strategy (default: all eight) and seed, reusing finished stages, and writes <dir>/report.md,
figure1.svg and results.json. A killed run continues where it stopped when run again.

Profiles (times on a 2-core machine without a GPU):
  tiny    40 users of ml-latest-small (or the synthetic catalogue), a 0.45M T5: 3-8 minutes
  quick   ml-latest-small, a 2.4M T5, 1 seed: about 27 minutes
  small   ml-latest-small, quick's T5, 5 seeds, the quantizer ablation on Multi-task: about 2.5 hours
  paper   ML-25M, flan-t5-base fine-tuned, the paper's settings, 5 seeds: for a GPU backend
--quantizers: quantizers other than rqkmeans run on Multi-task only (the paper's Table 3) unless
--strategies names others.
--collisions: keep (default, as the paper: an ID names all the items that share it, and they are
all scored) or dedup (TIGER: a level numbering the items that share an ID, every ID unique).
--workers: decoding worker threads, each holding the model (default: cores / 2; 0: decode in
the main thread).
--pretrained: a local Hugging Face T5 folder to fine-tune instead of training from scratch (profile
paper: flan-t5-base, found as $SEMID_MODELS/flan-t5-base when not given).
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { profile: { type: 'string', default: 'tiny' }, strategies: { type: 'string' }, quantizers: { type: 'string' }, seeds: { type: 'string' }, collisions: { type: 'string' }, workers: { type: 'string' }, pretrained: { type: 'string' },
      movielens: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', default: false } },
  });
  if (values.help) { process.stdout.write(RUN_USAGE); return 0; }
  if (!values.out) throw new SemidArgumentError('--out', 'a run folder', values.out);
  if (!(values.profile! in STUDY_PROFILES)) throw new SemidArgumentError('--profile', Object.keys(STUDY_PROFILES).join(', '), values.profile);
  const strategies = values.strategies?.split(',').map((s) => s.trim()) as Strategy[] | undefined;
  for (const s of strategies ?? []) if (!STRATEGIES.includes(s)) throw new SemidArgumentError('--strategies', STRATEGIES.join(', '), s);
  const quantizers = values.quantizers?.split(',').map((s) => s.trim()) as QuantizerName[] | undefined;
  for (const q of quantizers ?? []) if (!QUANTIZERS.includes(q)) throw new SemidArgumentError('--quantizers', QUANTIZERS.join(', '), q);
  const seeds = numberFlag('seeds', values.seeds, { integer: true, min: 1 });
  const collisions = values.collisions === undefined ? undefined : expectCollisionPolicy('--collisions', values.collisions);
  const workers = numberFlag('workers', values.workers, { integer: true, min: 0 });
  const out = resolve(values.out);
  const controller = new AbortController();
  const onSigint = () => controller.abort(new SemidError('ERR_SEMID_ABORTED', 'interrupted (run again to resume)'));
  process.once('SIGINT', onSigint);
  try {
    const t0 = performance.now();
    const study = await runStudy({ profile: values.profile as keyof typeof STUDY_PROFILES, strategies, quantizers, seeds, collisions, workers, out, movielens: values.movielens, pretrained: values.pretrained,
      signal: controller.signal, log: (line) => process.stderr.write(`semid run: ${line}\n`) });
    const report = writeReport(out, study.results, study.profile, study.manifest, study.timings, study.counterparts);
    process.stdout.write(`semid run: done in ${((performance.now() - t0) / 1000).toFixed(0)} s; report: ${report}\n`);
    // the command line that asks one of its models (Multi-task with RQ-KMeans where the run has it)
    const first = study.results.find((r) => r.strategy === 'multitask' && r.quantizer === 'rqkmeans') ?? study.results[0];
    if (first) {
      const flags = `${first.strategy !== 'multitask' ? ` --strategy ${first.strategy}` : ''}${first.quantizer !== 'rqkmeans' ? ` --quantizer ${first.quantizer}` : ''}${collisions === 'dedup' ? ' --collisions dedup' : ''}`;
      process.stdout.write(`semid run: ask its models: semid search "<query>" --run ${values.out}${flags}; semid recommend --user <userId> --run ${values.out}${flags}\n`);
    }
    return 0;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
