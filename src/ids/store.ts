/** Semantic IDs of a run: `<run>/ids/<strategy>-<quantizer>-<collisions>.json` (+ codes .npy), written atomically. */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SemidError } from '../kernels/errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { writeNpy } from '../data/npy.js';
import type { IdAssignment, Strategy } from './strategies.js';

/**
 * The file stem of a strategy's IDs in <run>/ids/.
 * @example idsName('separate', 'rqkmeans', 'keep') // 'separate-rqkmeans-keep'
 */
export function idsName(strategy: Strategy, quantizer: string, collisions: string): string {
  return `${strategy}-${quantizer}-${collisions}`;
}

/**
 * A digest of a strategy's saved IDs file (16 hex digits of its SHA-256): what the study keys its
 * models and results by, so that new IDs never meet a model trained on others.
 * @example idsDigest('runs/quick', 'multitask', 'rqkmeans') // '3f0c...'
 */
export function idsDigest(runDir: string, strategy: Strategy, quantizer: string, collisions = 'keep'): string {
  const path = join(runDir, 'ids', `${idsName(strategy, quantizer, collisions)}.json`);
  if (!existsSync(path)) throw new SemidError('ERR_SEMID_STAGE', `${path} is missing: run \`semid ids ${strategy} --quantizer ${quantizer} --collisions ${collisions} --run ${runDir}\` first`);
  return createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 16);
}

/** @example const path = saveIds('runs/default', ids); */
export function saveIds(runDir: string, ids: IdAssignment): string {
  const dir = join(runDir, 'ids');
  mkdirSync(dir, { recursive: true });
  const name = idsName(ids.strategy, ids.settings.quantizer, ids.settings.collisions);
  writeNpy(join(dir, `${name}.search.npy`), ids.search.codes, [ids.items, ids.search.levels]);
  if (ids.rec !== ids.search) writeNpy(join(dir, `${name}.rec.npy`), ids.rec.codes, [ids.items, ids.rec.levels]);
  const ns = (x: IdAssignment['search']) => ({ name: x.name, levels: x.levels, quality: x.quality, collisions: x.collisions,
    ...(x.collisionsBeforeDedup ? { collisionsBeforeDedup: x.collisionsBeforeDedup } : {}), tokens: x.tokens });
  const body = { strategy: ids.strategy, settings: ids.settings, items: ids.items, vocabulary: ids.vocabulary, search: ns(ids.search), rec: ids.rec === ids.search ? 'same as search' : ns(ids.rec) };
  const path = join(dir, `${name}.json`);
  writeFileAtomic(path, [Buffer.from(JSON.stringify(body))]);
  return path;
}

/**
 * Token sequences per item for each task, and the vocabulary.
 * @example loadIds('runs/default', 'multitask').search[0] // e.g. ['<id_0_17>', '<id_1_203>']
 */
export function loadIds(runDir: string, strategy: Strategy, quantizer = 'rqkmeans', collisions = 'keep'): { vocabulary: string[]; search: string[][]; rec: string[][]; raw: Record<string, unknown> } {
  const path = join(runDir, 'ids', `${idsName(strategy, quantizer, collisions)}.json`);
  if (!existsSync(path)) throw new SemidError('ERR_SEMID_STAGE', `${path} is missing: run \`semid ids ${strategy} --quantizer ${quantizer} --collisions ${collisions} --run ${runDir}\` first`);
  const j = JSON.parse(readFileSync(path, 'utf8'));
  const search = j.search.tokens as string[][];
  const rec = j.rec === 'same as search' ? search : (j.rec.tokens as string[][]);
  return { vocabulary: j.vocabulary, search, rec, raw: j };
}
