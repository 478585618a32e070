/**
 * Queries from an OpenAI-compatible chat endpoint, as the paper made them with an LLM: each item's
 * metadata is sent with the prompt below, answers are validated (20 distinct queries, none with the
 * title), failures retried with exponential backoff, at most `concurrency` requests at a time, and
 * every accepted answer is appended to a cache file at once, so an interrupted run loses nothing.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { SemidArgumentError, SemidError } from '../../kernels/errors.js';
import type { ItemMeta } from '../item-text.js';
import { QUERIES_PER_ITEM, queryProblem, type QuerySource, type QuerySourceOptions } from './types.js';

export interface LlmQueryOptions {
  /** Base URL (".../v1") or the full chat completions URL. */
  endpoint: string;
  model: string;
  /** Environment variable holding the API key (default OPENAI_API_KEY); no key is sent when it is unset. */
  apiKeyEnv?: string;
  /** Requests in flight at once (default 4). */
  concurrency?: number;
  /** Attempts per item before giving up (default 6). */
  maxAttempts?: number;
  /** First backoff in ms, doubled each retry, with jitter (default 1000). */
  backoffMs?: number;
  /** Per-request timeout in ms (default 120000). */
  timeoutMs?: number;
  temperature?: number;
  /** JSONL cache of accepted answers ({"movieId", "model", "queries"}); resumed from when present. */
  cachePath: string;
  /** fetch to use (default the global one). */
  fetch?: typeof fetch;
}

/**
 * The prompt: the paper asked an LLM (Gemini 2.0 Flash) for 20 queries per movie that do not name it.
 * @example const prompt = queryPrompt(buildItemMeta(ml, interactions)[0]);
 */
export function queryPrompt(item: ItemMeta): string {
  const lines = [`Title: ${item.title}`];
  if (item.year !== null) lines.push(`Year: ${item.year}`);
  if (item.genres.length) lines.push(`Genres: ${item.genres.join(', ')}`);
  if (item.tags.length) lines.push(`Tags: ${item.tags.join(', ')}`);
  if (item.genomeTags.length) lines.push(`Themes: ${item.genomeTags.join(', ')}`);
  if (item.description) lines.push(`Description: ${item.description}`);
  return [
    'You help build a movie search benchmark. Below is the metadata of one movie.',
    `Write ${QUERIES_PER_ITEM} different search queries that a user might type into a movie search engine when looking for a movie like this one.`,
    'The queries must describe what the user wants (genre, mood, themes, plot elements, era), be short and natural, and vary in wording and in what they focus on.',
    'Never mention the title of the movie, or any part of it, in a query.',
    `Answer with a JSON array of exactly ${QUERIES_PER_ITEM} strings and nothing else.`,
    '',
    ...lines,
  ].join('\n');
}

/**
 * Pull the list of queries out of a chat answer: a JSON array, {"queries": [...]}, or numbered lines.
 * @example parseQueryAnswer('```json\n["a heist thriller", "90s crime epic"]\n```') // ['a heist thriller', '90s crime epic']
 */
export function parseQueryAnswer(content: string): string[] {
  const text = content.replace(/^\s*```(?:json)?\s*/i, '').replace(/\s*```\s*$/, '').trim();
  try {
    const v = JSON.parse(text);
    if (Array.isArray(v)) return v.map((q) => String(q).trim());
    if (v && Array.isArray(v.queries)) return v.queries.map((q: unknown) => String(q).trim());
  } catch { /* not JSON: lines */ }
  const start = text.indexOf('[');
  const end = text.lastIndexOf(']');
  if (start >= 0 && end > start) {
    try {
      const v = JSON.parse(text.slice(start, end + 1));
      if (Array.isArray(v)) return v.map((q) => String(q).trim());
    } catch { /* fall through */ }
  }
  return text.split('\n').map((l) => l.replace(/^\s*(?:\d+[.)]|[-*•])\s*/, '').replace(/^"(.*)",?$/, '$1').trim()).filter((l) => l !== '');
}

function chatUrl(endpoint: string): string {
  const e = endpoint.replace(/\/+$/, '');
  return /\/chat\/completions$/.test(e) ? e : `${e}/chat/completions`;
}

class RetryableError extends Error {
  constructor(message: string, readonly retryAfterMs: number | null = null) { super(message); }
}

const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve, reject) => {
  if (signal?.aborted) { reject(signal.reason); return; }
  const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
  const onAbort = () => { clearTimeout(t); reject(signal!.reason); };
  signal?.addEventListener('abort', onAbort, { once: true });
});

/**
 * The LLM source.
 * @example
 * const source = llmQuerySource({ endpoint: 'http://127.0.0.1:8000/v1', model: 'gemini-2.0-flash', cachePath: 'run/queries.llm-cache.jsonl' });
 * const queries = await source.generate(items, { onProgress: console.log });
 */
export function llmQuerySource(options: LlmQueryOptions): QuerySource & { stats: { requests: number; retries: number; cached: number } } {
  if (typeof options?.endpoint !== 'string' || !/^https?:\/\//.test(options.endpoint)) throw new SemidArgumentError('endpoint', 'an http(s) URL', options?.endpoint);
  if (typeof options.model !== 'string' || options.model === '') throw new SemidArgumentError('model', 'a model name', options.model);
  if (typeof options.cachePath !== 'string' || options.cachePath === '') throw new SemidArgumentError('cachePath', 'a file path', options.cachePath);
  const concurrency = options.concurrency ?? 4;
  const maxAttempts = options.maxAttempts ?? 6;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) throw new SemidArgumentError('concurrency', 'integer between 1 and 256', concurrency);
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 100) throw new SemidArgumentError('maxAttempts', 'integer between 1 and 100', maxAttempts);
  const backoffMs = options.backoffMs ?? 1000;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const doFetch = options.fetch ?? fetch;
  const url = chatUrl(options.endpoint);
  const keyEnv = options.apiKeyEnv ?? 'OPENAI_API_KEY';
  const stats = { requests: 0, retries: 0, cached: 0 };

  const ask = async (item: ItemMeta, signal?: AbortSignal): Promise<string[]> => {
    const key = process.env[keyEnv];
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (key) headers.authorization = `Bearer ${key}`;
    const timeout = AbortSignal.timeout(timeoutMs);
    const both = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res: Response;
    stats.requests++;
    try {
      res = await doFetch(url, {
        method: 'POST', headers, signal: both,
        body: JSON.stringify({ model: options.model, temperature: options.temperature ?? 0.7, messages: [{ role: 'user', content: queryPrompt(item) }] }),
      });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw new RetryableError(`request to ${url} failed: ${(err as Error).message}${(err as Error & { cause?: Error }).cause ? ` (${(err as Error & { cause?: Error }).cause!.message})` : ''}`);
    }
    if (res.status === 429 || res.status >= 500) {
      const ra = Number(res.headers.get('retry-after'));
      await res.body?.cancel();
      throw new RetryableError(`${url} answered HTTP ${res.status}`, Number.isFinite(ra) && ra >= 0 ? ra * 1000 : null);
    }
    if (!res.ok) {
      const body = (await res.text()).slice(0, 300);
      const hint = res.status === 401 || res.status === 403 ? ` (check the API key in $${keyEnv})` : res.status === 404 ? ' (check --llm-endpoint and --llm-model)' : '';
      throw new SemidError('ERR_SEMID_LLM', `${url} answered HTTP ${res.status}${hint}: ${body}`);
    }
    let content: unknown;
    try {
      const json = (await res.json()) as { choices?: Array<{ message?: { content?: unknown } }> };
      content = json.choices?.[0]?.message?.content;
    } catch (err) {
      throw new RetryableError(`the answer from ${url} is not JSON: ${(err as Error).message}`);
    }
    if (typeof content !== 'string') throw new RetryableError('the answer has no choices[0].message.content');
    const queries = parseQueryAnswer(content).filter((q) => q !== '');
    // keep the first 20 valid distinct ones when the model wrote more
    const problem = queryProblem(queries.slice(0, QUERIES_PER_ITEM), item);
    if (problem) throw new RetryableError(`movieId ${item.movieId}: the answer ${problem}`);
    return queries.slice(0, QUERIES_PER_ITEM);
  };

  return {
    name: `llm:${options.model}`,
    stats,
    async generate(items: ItemMeta[], run: QuerySourceOptions = {}) {
      const out: Array<string[] | undefined> = new Array(items.length);
      const index = new Map<number, number>();
      items.forEach((it, i) => index.set(it.movieId, i));
      if (existsSync(options.cachePath)) {
        for (const raw of readFileSync(options.cachePath, 'utf8').split('\n')) {
          if (!raw.trim()) continue;
          let row: { movieId?: number; model?: string; queries?: string[] };
          try { row = JSON.parse(raw); } catch { continue; } // a line cut by a crash: asked again
          const i = row.movieId === undefined ? undefined : index.get(row.movieId);
          if (i === undefined || row.model !== options.model || queryProblem(row.queries, items[i])) continue;
          out[i] = row.queries;
          stats.cached++;
        }
      }
      let done = stats.cached;
      run.onProgress?.({ done, total: items.length });
      const todo = items.map((_, i) => i).filter((i) => out[i] === undefined);
      let next = 0;
      let failure: unknown = null;
      const worker = async () => {
        while (next < todo.length && failure === null) {
          const i = todo[next++];
          for (let attempt = 1; ; attempt++) {
            if (run.signal?.aborted) throw run.signal.reason;
            try {
              out[i] = await ask(items[i], run.signal);
              appendFileSync(options.cachePath, JSON.stringify({ movieId: items[i].movieId, model: options.model, queries: out[i] }) + '\n');
              break;
            } catch (err) {
              if (!(err instanceof RetryableError)) throw err;
              if (attempt >= maxAttempts) {
                throw new SemidError('ERR_SEMID_LLM', `gave up on movieId ${items[i].movieId} after ${attempt} attempts: ${err.message}. Answers so far are kept in ${options.cachePath}; run again to resume.`);
              }
              stats.retries++;
              const wait = err.retryAfterMs ?? backoffMs * 2 ** (attempt - 1) * (0.5 + Math.random());
              await sleep(wait, run.signal);
            }
          }
          run.onProgress?.({ done: ++done, total: items.length });
        }
      };
      const workers = Array.from({ length: Math.min(concurrency, Math.max(1, todo.length)) }, () => worker().catch((e) => { failure ??= e; }));
      await Promise.all(workers);
      if (failure) throw failure;
      return out as string[][];
    },
  };
}
