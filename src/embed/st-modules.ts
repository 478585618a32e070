/**
 * A sentence-transformers folder's module list (modules.json) after the Transformer: its Pooling
 * (1_Pooling/config.json, in either the boolean or the `pooling_mode` form), Dense layers and
 * Normalize, as sentence-transformers applies them. Modules we do not run are errors, never
 * skipped.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SemidError } from '../kernels/errors.js';

/** Pooling modes, in the order sentence-transformers concatenates them. */
export const SENTENCE_POOLING_MODES = ['cls', 'max', 'mean', 'mean_sqrt_len_tokens', 'weightedmean', 'lasttoken'] as const;
export type SentencePooling = (typeof SENTENCE_POOLING_MODES)[number];

/** A Dense module: y = act(W·x + b), W [outFeatures, inFeatures] (weights in `<path>/model.safetensors`). */
export interface SentenceDense { path: string; inFeatures: number; outFeatures: number; bias: boolean; activation: 'tanh' | 'identity' }

/** What follows the Transformer: pooled modes, then each step in modules.json order. */
export interface SentenceHead {
  pooling: SentencePooling[];
  /** The token embedding width the Pooling config names (word_embedding_dimension or embedding_dimension), if it names one. */
  poolingInput?: number;
  steps: Array<{ kind: 'dense'; dense: SentenceDense } | { kind: 'normalize' }>;
}

function poolingInput(config: Record<string, unknown>): number | undefined {
  const v = config.word_embedding_dimension ?? config.embedding_dimension;
  return typeof v === 'number' ? v : undefined;
}

const fail = (message: string): never => { throw new SemidError('ERR_SEMID_ENCODER', message); };

function readJson(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    return fail(`${path}: is not JSON (${(err as Error).message})`);
  }
}

/**
 * The pooling modes of a Pooling config: `pooling_mode` ("mean", "cls", ..., which overrides the
 * booleans, as in sentence-transformers) or the `pooling_mode_*` booleans; mean where it names none.
 * @example poolingModes({ pooling_mode_cls_token: true, pooling_mode_mean_tokens: false }) // ['cls']
 */
export function poolingModes(config: Record<string, unknown>, where = 'Pooling config'): SentencePooling[] {
  const named = config.pooling_mode;
  if (named !== undefined && named !== null) {
    const list = Array.isArray(named) ? named : [named];
    const modes = list.map((m) => {
      const s = typeof m === 'string' ? m.toLowerCase() : '';
      return (SENTENCE_POOLING_MODES as readonly string[]).includes(s) ? (s as SentencePooling) : fail(`${where}: pooling_mode ${JSON.stringify(m)} is not one of ${SENTENCE_POOLING_MODES.join(', ')}`);
    });
    return SENTENCE_POOLING_MODES.filter((m) => modes.includes(m));
  }
  const flags: Record<SentencePooling, string> = {
    cls: 'pooling_mode_cls_token', max: 'pooling_mode_max_tokens', mean: 'pooling_mode_mean_tokens',
    mean_sqrt_len_tokens: 'pooling_mode_mean_sqrt_len_tokens', weightedmean: 'pooling_mode_weightedmean_tokens', lasttoken: 'pooling_mode_lasttoken',
  };
  if (!Object.values(flags).some((k) => k in config)) return ['mean'];  // sentence-transformers' default
  const modes = SENTENCE_POOLING_MODES.filter((m) => config[flags[m]] === true);
  return modes.length > 0 ? modes : fail(`${where}: no pooling mode is set`);
}

const ACTIVATIONS: Record<string, SentenceDense['activation']> = {
  'torch.nn.modules.activation.Tanh': 'tanh', 'torch.nn.modules.linear.Identity': 'identity',
};

function readDense(dir: string, path: string): SentenceDense {
  const where = join(dir, path, 'config.json');
  if (!existsSync(where)) fail(`${where} is missing (a Dense module's config)`);
  const c = readJson(where);
  const int = (k: string) => (Number.isInteger(c[k]) && (c[k] as number) > 0 ? (c[k] as number) : fail(`${where}: ${k} must be a positive integer, got ${JSON.stringify(c[k])}`));
  const act = String(c.activation_function ?? 'torch.nn.modules.activation.Tanh');
  const activation = ACTIVATIONS[act] ?? fail(`${where}: activation_function "${act}" is not supported (${Object.keys(ACTIVATIONS).join(', ')})`);
  return { path, inFeatures: int('in_features'), outFeatures: int('out_features'), bias: c.bias !== false, activation };
}

/**
 * The modules after the Transformer in a sentence-transformers folder (none listed: mean pooling,
 * as sentence-transformers builds for a plain transformers folder).
 * @example sentenceHead('models/all-MiniLM-L6-v2') // { pooling: ['mean'], steps: [{ kind: 'normalize' }] }
 */
export function sentenceHead(dir: string): SentenceHead {
  const modulesPath = join(dir, 'modules.json');
  if (!existsSync(modulesPath)) {
    const pool = join(dir, '1_Pooling', 'config.json');
    if (!existsSync(pool)) return { pooling: ['mean'], steps: [] };
    const config = readJson(pool);
    return { pooling: poolingModes(config, pool), poolingInput: poolingInput(config), steps: [] };
  }
  const modules = readJson(modulesPath) as unknown;
  if (!Array.isArray(modules)) return fail(`${modulesPath}: expected a list of modules`);
  const head: SentenceHead = { pooling: [], steps: [] };
  let pooled = false;
  modules.forEach((m: { type?: unknown; path?: unknown }, i) => {
    const type = typeof m?.type === 'string' ? m.type : '';
    const kind = type.split('.').pop() ?? '';
    const path = typeof m?.path === 'string' ? m.path : '';
    if (kind === 'Transformer') {
      if (i !== 0) fail(`${modulesPath}: the Transformer must be the first module`);
    } else if (kind === 'Pooling') {
      if (pooled) fail(`${modulesPath}: two Pooling modules`);
      const where = join(dir, path, 'config.json');
      const config = existsSync(where) ? readJson(where) : {};
      head.pooling = poolingModes(config, where);
      head.poolingInput = poolingInput(config);
      pooled = true;
    } else if (kind === 'Dense' || kind === 'Normalize') {
      if (!pooled) fail(`${modulesPath}: ${kind} before Pooling (token-level modules are not supported)`);
      head.steps.push(kind === 'Dense' ? { kind: 'dense', dense: readDense(dir, path) } : { kind: 'normalize' });
    } else {
      fail(`${modulesPath}: module ${i} ("${type}") is not supported (Transformer, Pooling, Dense, Normalize)`);
    }
  });
  if (!pooled) fail(`${modulesPath}: no Pooling module`);
  return head;
}
