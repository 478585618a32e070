/**
 * An HTTP front for a trained model (`semid serve`): JSON search and recommendation endpoints over
 * an AskBatcher, so that concurrent requests are decoded in shared batches. node:http only.
 *
 *   GET  /health                                  the model served and the batcher's counts
 *   GET  /metrics                                 the same and requests by route, status and latency (Prometheus text)
 *   GET  /search?q=<text>[&top=&beams=&groups=&penalty=]
 *   POST /search     { "query": "..." } or { "queries": ["...", ...] }, plus top, beams, groups, diversityPenalty
 *   GET  /recommend?user=<userId> | movies=<movieId,...> [&top=...]
 *   POST /recommend  { "user": 42 } or { "movies": [1, 260] } or { "items": [0, 224] }, plus the options
 *
 * A batcher of a GenerativeRetriever (a T5 of your own) answers /search and /health; /recommend,
 * which needs a run's users and movies, is then no route (404).
 *
 * Errors are JSON `{ "error": { "code", "message", "parameter"? } }`: 400 for a bad parameter (named),
 * 404 / 405 for a wrong route or method, 413 for a body over 1 MiB, 503 while shutting down.
 * With `cors`, browsers on that origin may call it (CORS headers, OPTIONS preflight answered).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { SemidArgumentError, SemidError } from '../kernels/errors.js';
import { expectOptions, optionKeys } from '../kernels/validate.js';
import { itemsOfMovies, resolveAskOptions, userHistory, type AskOptions, type RunModel } from './ask.js';
import type { AskBatcher, Servable } from './ask-batcher.js';
import { GenerativeRetriever } from './retriever.js';
import { ServerMetrics } from './serve-metrics.js';

/** Largest request body read (bytes). */
export const MAX_BODY_BYTES = 1 << 20;

interface SearchBody extends Omit<AskOptions, 'signal'> { query?: string; queries?: string[] }
interface RecommendBody extends Omit<AskOptions, 'signal'> { user?: number; movies?: number[]; items?: number[] }
const SEARCH_BODY_KEYS = optionKeys<SearchBody>()(['query', 'queries', 'top', 'beams', 'groups', 'diversityPenalty']);
const RECOMMEND_BODY_KEYS = optionKeys<RecommendBody>()(['user', 'movies', 'items', 'top', 'beams', 'groups', 'diversityPenalty']);

class HttpError extends SemidError {
  constructor(readonly status: number, code: string, message: string) {
    super(code, message);
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.writableEnded || res.destroyed) return;
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const text = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) { chunks.push(chunk); return; }
      // answer at once; the rest of the body is read and dropped (the connection is closed after the answer)
      req.off('data', onData);
      req.resume();
      reject(new HttpError(413, 'ERR_SEMID_BODY_TOO_LARGE', `the request body is over ${MAX_BODY_BYTES} bytes`));
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new SemidArgumentError('body', 'a JSON object', text.length > 60 ? `${text.slice(0, 60)}...` : text);
  }
}

/** A query-string number: absent is undefined, anything else must be a finite number. */
function numberParam(url: URL, name: string, as = name): Record<string, number> {
  const v = url.searchParams.get(name);
  if (v === null) return {};
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x)) throw new SemidArgumentError(as, 'a number', v);
  return { [as]: x };
}

function optionsOfQuery(url: URL, known: readonly string[]): AskOptions {
  for (const k of url.searchParams.keys()) {
    if (!known.includes(k)) throw new SemidArgumentError(k, `one of the parameters ${known.join(', ')}`, 'an unknown parameter');
  }
  return { ...numberParam(url, 'top'), ...numberParam(url, 'beams'), ...numberParam(url, 'groups'), ...numberParam(url, 'penalty', 'diversityPenalty') };
}

function optionsOfBody(body: Omit<AskOptions, 'signal'>): Omit<AskOptions, 'signal'> {
  const { top, beams, groups, diversityPenalty } = body;
  return Object.fromEntries(Object.entries({ top, beams, groups, diversityPenalty }).filter(([, v]) => v !== undefined));
}

function objectBody<T extends object>(body: unknown, known: readonly string[]): Partial<T> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new SemidArgumentError('body', 'a JSON object', body);
  return expectOptions<T>('body', body, known);
}

async function searchRoute(b: AskBatcher<Servable>, req: IncomingMessage, url: URL, signal: AbortSignal): Promise<unknown> {
  if (req.method === 'GET') {
    const q = url.searchParams.get('q');
    if (q === null) throw new SemidArgumentError('q', 'a query (/search?q=...)', 'none');
    return { query: q, answers: await b.search(q, { ...optionsOfQuery(url, ['q', 'top', 'beams', 'groups', 'penalty']), signal }) };
  }
  const body = objectBody<SearchBody>(await readJson(req), SEARCH_BODY_KEYS);
  const o = { ...optionsOfBody(body), signal };
  if ((body.query === undefined) === (body.queries === undefined)) throw new SemidArgumentError('query', 'either query (a string) or queries (a list of strings)', body.query === undefined ? 'neither' : 'both');
  if (body.query !== undefined) return { query: body.query, answers: await b.search(body.query, o) };
  const queries = body.queries;
  if (!Array.isArray(queries) || queries.length === 0) throw new SemidArgumentError('queries', 'a non-empty list of strings', queries);
  if (queries.length > 4096) throw new SemidArgumentError('queries', 'at most 4096 queries a request', queries.length);
  // each query joins the batcher on its own: a bad one fails the request before any is decoded
  queries.forEach((q, i) => { if (typeof q !== 'string' || q.trim() === '') throw new SemidArgumentError(`queries[${i}]`, 'a non-empty string', q); });
  const answers: unknown[][] = await Promise.all(queries.map((q) => b.search(q, o)));
  return { results: queries.map((q, i) => ({ query: q, answers: answers[i] })) };
}

function historyOf(b: AskBatcher<Servable>, given: { user?: unknown; movies?: unknown; items?: unknown }): Int32Array | number[] {
  const named = (['user', 'movies', 'items'] as const).filter((k) => given[k] !== undefined);
  const m: Servable = b.model;
  if (m instanceof GenerativeRetriever) {  // a catalogue of the caller's own: items by row, no users or movies
    if (named.length !== 1 || given.items === undefined) throw new SemidArgumentError('items', 'the history as item rows (this model knows no users or movies)', named.length === 0 ? 'none' : named.join(' and '));
  } else if (named.length !== 1) {
    throw new SemidArgumentError('user', 'exactly one of user, movies or items', named.length === 0 ? 'none' : named.join(' and '));
  }
  if (given.user !== undefined) {
    if (!Number.isInteger(given.user)) throw new SemidArgumentError('user', 'a userId (an integer)', given.user);
    return userHistory(m as RunModel, given.user as number);
  }
  const list = (given.movies ?? given.items) as unknown;
  const name = given.movies !== undefined ? 'movies' : 'items';
  if (!Array.isArray(list) || list.length === 0) throw new SemidArgumentError(name, 'a non-empty list of integers', list);
  list.forEach((x, i) => { if (!Number.isInteger(x)) throw new SemidArgumentError(`${name}[${i}]`, 'an integer', x); });
  return name === 'movies' ? itemsOfMovies(m as RunModel, list as number[]) : (list as number[]);
}

async function recommendRoute(b: AskBatcher<Servable>, req: IncomingMessage, url: URL, signal: AbortSignal): Promise<unknown> {
  if (req.method === 'GET') {
    const user = url.searchParams.get('user');
    const movies = url.searchParams.get('movies');
    const items = url.searchParams.get('items');
    const o = optionsOfQuery(url, ['user', 'movies', 'items', 'top', 'beams', 'groups', 'penalty']);
    // numbers where the text is one, else the text (for the error to show)
    const numeric = (s: string) => (s.trim() !== '' && Number.isFinite(Number(s)) ? Number(s) : s);
    const list = (s: string | null) => (s === null ? undefined : s.split(',').map(numeric));
    const given = { user: user === null ? undefined : numeric(user), movies: list(movies), items: list(items) };
    return { answers: await b.recommend(historyOf(b, given), { ...o, signal }) };
  }
  const body = objectBody<RecommendBody>(await readJson(req), RECOMMEND_BODY_KEYS);
  return { answers: await b.recommend(historyOf(b, body), { ...optionsOfBody(body), signal }) };
}

function health(b: AskBatcher<Servable>, closing: boolean): unknown {
  const m: Servable = b.model;
  if (m instanceof GenerativeRetriever) {
    return { status: closing ? 'closing' : 'ok', model: m.modelDir, items: m.items, historyPrompt: m.historyPrompt ?? null, defaults: resolveAskOptions({}, m.generation), maxWaitMs: b.maxWaitMs, ...b.stats() };
  }
  return {
    status: closing ? 'closing' : 'ok', run: m.out, strategy: m.strategy, quantizer: m.quantizer, seed: m.seed, collisions: m.collisions,
    model: m.modelDir, items: m.dataset.items.length, defaults: resolveAskOptions({}, m.generation), maxWaitMs: b.maxWaitMs, ...b.stats(),
  };
}

/** An HTTP server for a batcher, and how to stop it. */
export interface AskServer {
  server: Server;
  /** Stop taking connections, answer what was asked, then resolve (the model is the caller's to dispose). */
  close(): Promise<void>;
}

export interface AskServerOptions {
  /** An origin (`https://app.example.com`, or `*` for any) whose pages may call the server (CORS). */
  cors?: string;
  /** Called with one line a request once it is answered: method, path, status, milliseconds. */
  log?: (line: string) => void;
}

/** The option names of AskServerOptions (checked against it at compile time). */
const SERVER_KEYS = optionKeys<AskServerOptions>()(['cors', 'log']);

/**
 * An HTTP server (not yet listening) that answers /search, /recommend and /health from a batcher.
 * A request whose client disconnects is dropped from its batch.
 * @example const s = createAskServer(new AskBatcher(loadRunModel('runs/quick'))); s.server.listen(8080); // curl 'localhost:8080/search?q=space+robots'
 */
export function createAskServer(b: AskBatcher<Servable>, options: AskServerOptions = {}): AskServer {
  const o = expectOptions<AskServerOptions>('options', options, SERVER_KEYS);
  if (o.log !== undefined && typeof o.log !== 'function') throw new SemidArgumentError('log', 'a function (line) => void', o.log);
  if (o.cors !== undefined && (typeof o.cors !== 'string' || !/^(\*|https?:\/\/[^\s/]+)$/.test(o.cors))) {
    throw new SemidArgumentError('cors', 'an origin (http(s)://host[:port]) or *', o.cors);
  }
  let closing = false;
  const retriever = b.model instanceof GenerativeRetriever;
  // a retriever (a T5 of the caller's own) recommends after items only with its historyPrompt
  const methods: Record<string, string[]> = retriever && (b.model as GenerativeRetriever).historyPrompt === undefined
    ? { '/health': ['GET'], '/metrics': ['GET'], '/search': ['GET', 'POST'] }
    : { '/health': ['GET'], '/metrics': ['GET'], '/search': ['GET', 'POST'], '/recommend': ['GET', 'POST'] };
  const metrics = new ServerMetrics(Object.keys(methods));
  const server = createServer((req, res) => {
    const started = performance.now();
    // parsed once, for the router and the metrics (a target no parser takes is a 400, counted as "other")
    let url: URL | null = null;
    try { url = new URL(req.url ?? '/', 'http://localhost'); } catch { /* below */ }
    const route = url ? url.pathname.replace(/\/+$/, '') || '/' : '';
    res.once('close', () => {
      const ms = performance.now() - started;
      metrics.record(route, res.writableFinished ? res.statusCode : 'closed', ms / 1000);
      o.log?.(`${new Date().toISOString()} ${req.method} ${(req.url ?? '/').slice(0, 200)} ${res.writableFinished ? res.statusCode : 'closed by client'} ${ms.toFixed(1)} ms`);
    });
    if (o.cors !== undefined) {
      res.setHeader('access-control-allow-origin', o.cors);
      if (o.cors !== '*') res.setHeader('vary', 'origin');
      if (req.method === 'OPTIONS') {
        res.writeHead(204, { 'access-control-allow-methods': 'GET, POST', 'access-control-allow-headers': 'content-type', 'access-control-max-age': '600' });
        res.end();
        return;
      }
    }
    const controller = new AbortController();
    res.on('close', () => { if (!res.writableFinished) controller.abort(); });
    void (async () => {
      try {
        if (!url) throw new SemidArgumentError('url', 'a path such as /search?q=...', req.url);
        if (!Object.hasOwn(methods, route)) throw new HttpError(404, 'ERR_SEMID_NOT_FOUND', `no route ${route}: try ${Object.keys(methods).join(', ')}`);
        if (!methods[route].includes(req.method ?? '')) {
          res.setHeader('allow', methods[route].join(', '));
          throw new HttpError(405, 'ERR_SEMID_METHOD', `${route} takes ${methods[route].join(' or ')}, not ${req.method}`);
        }
        if (route === '/health') return send(res, 200, health(b, closing));
        if (route === '/metrics') {
          const text = metrics.text(b.stats());
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': String(Buffer.byteLength(text)) });
          res.end(text);
          return;
        }
        if (closing) throw new HttpError(503, 'ERR_SEMID_CLOSED', 'the server is shutting down');
        const result = route === '/search' ? await searchRoute(b, req, url, controller.signal) : await recommendRoute(b, req, url, controller.signal);
        send(res, 200, result);
      } catch (err) {
        if (controller.signal.aborted) return;  // the client has gone
        if (err instanceof HttpError) return send(res, err.status, { error: { code: err.code, message: err.message } }, err.status === 413 ? { connection: 'close' } : {});
        if (err instanceof SemidArgumentError) return send(res, 400, { error: { code: err.code, message: err.message, parameter: err.parameter } });
        if (err instanceof SemidError && err.code === 'ERR_SEMID_CLOSED') return send(res, 503, { error: { code: err.code, message: err.message } });
        send(res, 500, { error: { code: (err as { code?: string }).code ?? 'ERR_SEMID_INTERNAL', message: err instanceof Error ? err.message : String(err) } });
      }
    })();
  });
  return {
    server,
    async close() {
      closing = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await b.close();
      // every answer is written: connections kept alive are closed now, and any still busy after 2 s
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), 2000);
      force.unref();
      await stopped;
      clearTimeout(force);
    },
  };
}
