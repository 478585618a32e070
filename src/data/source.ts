/**
 * Where the data comes from, in this order: an explicit folder (`--movielens`), the SEMID_DATA
 * environment variable, `../shared/data/ml-latest-small` beside the checkout (developers and CI),
 * and otherwise the embedded synthetic catalogue, which callers must announce loudly.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { packageRoot } from '../native/loader.js';
import { DataFormatError } from './errors.js';
import { detectMovieLensFormat } from './movielens/read.js';

export interface DataSource {
  /** The folder to read, or null for the synthetic catalogue. */
  dir: string | null;
  /** How it was chosen: "--movielens", "SEMID_DATA", "shared" or "synthetic". */
  origin: 'argument' | 'SEMID_DATA' | 'shared' | 'synthetic';
}

/**
 * The shared data folder of this checkout's workspace (`<checkout>/../shared/data/ml-latest-small`).
 * @example existsSync(join(sharedMovieLensDir(), 'ratings.csv')) // true in a checkout beside ../shared
 */
export function sharedMovieLensDir(): string {
  return resolve(join(dirname(packageRoot), 'shared', 'data', 'ml-latest-small'));
}

/**
 * Pick the data source. An explicit folder or SEMID_DATA that is not a MovieLens folder is an
 * error (never a silent fallback to synthetic data).
 * @example resolveDataSource(undefined) // { dir: '/work/shared/data/ml-latest-small', origin: 'shared' }
 */
export function resolveDataSource(explicit?: string, env: NodeJS.ProcessEnv = process.env): DataSource {
  const check = (dir: string, origin: DataSource['origin'], what: string): DataSource => {
    const abs = resolve(dir);
    if (!existsSync(abs)) throw new DataFormatError(abs, 0, `does not exist (given by ${what})`);
    if (!detectMovieLensFormat(abs)) throw new DataFormatError(abs, 0, `is not a MovieLens folder (given by ${what}; expected movies.csv + ratings.csv, movies.dat + ratings.dat, or u.item + u.data)`);
    return { dir: abs, origin };
  };
  if (explicit) return check(explicit, 'argument', '--movielens');
  if (env.SEMID_DATA) return check(env.SEMID_DATA, 'SEMID_DATA', 'the SEMID_DATA environment variable');
  const shared = sharedMovieLensDir();
  if (existsSync(shared) && detectMovieLensFormat(shared)) return { dir: shared, origin: 'shared' };
  return { dir: null, origin: 'synthetic' };
}
