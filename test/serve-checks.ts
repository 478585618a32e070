// Serving a trained run (AskBatcher, createAskServer, `semid serve`): called by study.test.ts on
// the run it trains, so that no second study is trained for these checks.
import { expect } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { getEventListeners } from 'node:events';
import { join } from 'node:path';
import { connect, type AddressInfo } from 'node:net';
import { AskBatcher, askRecommend, askSearch, createAskServer, loadRunModel, userHistory, MAX_BODY_BYTES, type Answer } from '../src/index.js';

const O = { top: 5, beams: 8, groups: 4 };

/** Same items in the same order, scores equal up to float rounding (the batch's shape changes its sums' order). */
function expectSameAnswers(got: Answer[], want: Answer[]): void {
  expect(got.map((a) => a.item)).toEqual(want.map((a) => a.item));
  got.forEach((a, k) => expect(Math.abs(a.score - want[k].score)).toBeLessThan(1e-4));
}

async function batcherChecks(run: string): Promise<void> {
  const m = loadRunModel(run, { strategy: 'multitask' });
  try {
    const queries = m.dataset.search.test.slice(0, 12).map((e) => e.query);
    const solo: Answer[][] = [];
    for (const q of queries) solo.push((await askSearch(m, [q], O))[0]);
    const b = new AskBatcher(m);
    const together = await Promise.all(queries.map((q) => b.search(q, O)));
    together.forEach((a, i) => expectSameAnswers(a, solo[i]));
    expect(b.stats()).toMatchObject({ answered: 12, batches: 1, largestBatch: 12, waiting: 0, decoding: 0 });

    // other options or another task go to their own batches; each query keeps its own top
    const user = m.dataset.interactions.userId[1];
    const [recAlone] = await askRecommend(m, [userHistory(m, user)], O);
    const [wide, narrow, rec] = await Promise.all([b.search(queries[0], { ...O, beams: 16, groups: 4 }), b.search(queries[0], { ...O, top: 2 }), b.recommend(userHistory(m, user), O)]);
    expect(wide).toHaveLength(5);
    expectSameAnswers(narrow, solo[0].slice(0, 2));
    expectSameAnswers(rec, recAlone);
    expect(b.stats().batches).toBe(4);

    // a bad query fails its caller alone, at once
    const good = b.search(queries[1], O);
    await expect(b.search('  ', O)).rejects.toThrow(/non-empty string for query/);
    await expect(b.search(queries[1], { ...O, topk: 3 } as never)).rejects.toThrow(/did you mean top\?/);
    await expect(b.recommend([0, -1], O)).rejects.toThrow(/history\[1\]/);
    expectSameAnswers(await good, solo[1]);
    // a signal's listener goes with the last of its queries, answered or not
    const kept = new AbortController();
    const [k0, k1] = await Promise.all([b.search(queries[0], { ...O, signal: kept.signal }), b.search(queries[1], { ...O, signal: kept.signal })]);
    expectSameAnswers(k0, solo[0]);
    expectSameAnswers(k1, solo[1]);
    expect(getEventListeners(kept.signal, 'abort')).toHaveLength(0);

    // aborts: before, while waiting (the others in the batch are answered), and a batch nobody waits for
    const slow = new AskBatcher(m, { maxWaitMs: 100 });
    const gone = new AbortController();
    gone.abort(new Error('gone before'));
    await expect(slow.search(queries[2], { ...O, signal: gone.signal })).rejects.toThrow(/gone before/);
    const leaving = new AbortController();
    const left = slow.search(queries[2], { ...O, signal: leaving.signal });
    const stays = slow.search(queries[3], O);
    leaving.abort(new Error('left while waiting'));
    await expect(left).rejects.toThrow(/left while waiting/);
    expectSameAnswers(await stays, solo[3]);
    expect(slow.stats()).toMatchObject({ answered: 1, largestBatch: 1 });
    // a batch whose callers have all gone is stopped: 40 queries x 8 beams make steps large enough
    // to run off the main thread (a small step runs inline, with no turn of the event loop to abort in)
    const all = new AbortController();
    const many = m.dataset.search.test.slice(0, 40).map((e) => slow.search(e.query, { ...O, signal: all.signal }));
    expect(getEventListeners(all.signal, 'abort')).toHaveLength(1);  // one listener for the 40 queries that share it
    const whenDecoding = () => (slow.stats().decoding > 0 ? all.abort(new Error('dropped while decoding')) : setImmediate(whenDecoding));
    whenDecoding();
    for (const d of many) await expect(d).rejects.toThrow(/dropped while decoding/);
    expect(getEventListeners(all.signal, 'abort')).toHaveLength(0);
    await slow.close();
    expect(slow.stats().answered).toBe(1);

    // close answers what was taken, then refuses
    const last = b.search(queries[5], O);
    await b.close();
    expectSameAnswers(await last, solo[5]);
    await expect(b.search(queries[5], O)).rejects.toThrow(/closed/);
    expect(() => new AskBatcher(m, { maxBatch: 0 })).toThrow(/maxBatch/);
    expect(() => new AskBatcher(m, { maxWait: 3 } as never)).toThrow(/did you mean maxWaitMs\?/);
  } finally {
    m.model.dispose();
  }
}

async function serverChecks(run: string): Promise<void> {
  const m = loadRunModel(run, { strategy: 'multitask' });
  const logged: string[] = [];
  const { server, close } = createAskServer(new AskBatcher(m), { log: (line) => logged.push(line) });
  try {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const get = async (path: string) => { const r = await fetch(base + path); return { status: r.status, headers: r.headers, body: await r.json() }; };
    const post = async (path: string, body: unknown) => {
      const r = await fetch(base + path, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
      return { status: r.status, body: await r.json() };
    };
    const query = m.dataset.search.test[0].query;
    const [alone] = await askSearch(m, [query], O);
    const one = await get(`/search?q=${encodeURIComponent(query)}&top=5&beams=8&groups=4`);
    expect(one.status).toBe(200);
    expect(one.body.query).toBe(query);
    expectSameAnswers(one.body.answers, alone);
    const several = await post('/search', { queries: [query, m.dataset.search.test[1].query], ...O });
    expect(several.status).toBe(200);
    expect(several.body.results).toHaveLength(2);
    expectSameAnswers(several.body.results[0].answers, alone);
    const user = m.dataset.interactions.userId[0];
    const [recAlone] = await askRecommend(m, [userHistory(m, user)], O);
    expectSameAnswers((await post('/recommend', { user, ...O })).body.answers, recAlone);
    expectSameAnswers((await get(`/recommend?user=${user}&top=5&beams=8&groups=4`)).body.answers, recAlone);
    const movie = m.dataset.items[3].movieId;
    expect((await get(`/recommend?movies=${movie}&top=5&beams=8&groups=4`)).body.answers).toHaveLength(5);
    expect((await post('/recommend', { items: [3], ...O })).body.answers).toHaveLength(5);

    // errors name the parameter
    expect(await get('/search?q=x&top=abc')).toMatchObject({ status: 400, body: { error: { parameter: 'top', message: /"abc"/ } } });
    expect(await get('/search?q=x&topk=3')).toMatchObject({ status: 400, body: { error: { parameter: 'topk' } } });
    expect(await get('/search?top=3')).toMatchObject({ status: 400, body: { error: { parameter: 'q' } } });
    expect(await get('/search?q=x&top=99&beams=8')).toMatchObject({ status: 400, body: { error: { parameter: 'top' } } });
    expect(await post('/search', { query, topk: 3 })).toMatchObject({ status: 400, body: { error: { parameter: 'body.topk', message: /did you mean top\?/ } } });
    expect(await post('/search', { query, queries: [query] })).toMatchObject({ status: 400, body: { error: { parameter: 'query' } } });
    expect(await post('/search', { queries: [query, ''] })).toMatchObject({ status: 400, body: { error: { parameter: 'queries[1]' } } });
    expect(await post('/search', '{"query": ')).toMatchObject({ status: 400, body: { error: { parameter: 'body' } } });
    expect(await post('/search', '[1]')).toMatchObject({ status: 400, body: { error: { parameter: 'body' } } });
    expect(await post('/recommend', { user: -7 })).toMatchObject({ status: 400, body: { error: { parameter: 'user' } } });
    expect(await post('/recommend', { user, movies: [1] })).toMatchObject({ status: 400, body: { error: { parameter: 'user', message: /exactly one/ } } });
    expect(await post('/recommend', { items: [0, 1e9] })).toMatchObject({ status: 400, body: { error: { parameter: 'history[1]' } } });
    expect(await get('/recommend?movies=1,abc')).toMatchObject({ status: 400, body: { error: { parameter: 'movies[1]', message: /"abc"/ } } });
    expect(await get('/nowhere')).toMatchObject({ status: 404, body: { error: { code: 'ERR_SEMID_NOT_FOUND' } } });
    // a target no URL parser takes (fetch cannot send one) is a 400, and the server lives on
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect((server.address() as AddressInfo).port, '127.0.0.1', () => socket.end('GET http://[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
      let text = '';
      socket.on('data', (d) => { text += d; }).on('end', () => resolve(text)).on('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400 [\s\S]*"parameter":"url"/);
    const wrong = await fetch(`${base}/health`, { method: 'POST', body: '{}' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET');
    const big = await fetch(`${base}/search`, { method: 'POST', body: JSON.stringify({ query: 'x'.repeat(MAX_BODY_BYTES) }) }).catch(() => undefined);
    if (big) expect(big.status).toBe(413);  // or the server closed the connection mid-upload
    // CORS only where asked: a server for one origin answers the browser's preflight
    expect(one.headers.get('access-control-allow-origin')).toBeNull();
    const web = createAskServer(new AskBatcher(m), { cors: 'https://app.example.com' });
    await new Promise<void>((resolve) => web.server.listen(0, '127.0.0.1', resolve));
    const webBase = `http://127.0.0.1:${(web.server.address() as AddressInfo).port}`;
    const preflight = await fetch(`${webBase}/search`, { method: 'OPTIONS' });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-methods')).toBe('GET, POST');
    expect((await fetch(`${webBase}/health`)).headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    await web.close();
    expect(() => createAskServer(new AskBatcher(m), { cors: 'app.example.com' })).toThrow(/origin .* for cors/);

    expect(logged[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z GET \/search\?q=.* 200 [\d.]+ ms$/);
    expect(logged.some((l) => / \/nowhere 404 /.test(l))).toBe(true);
    const health = await get('/health');
    expect(health.body).toMatchObject({ status: 'ok', strategy: 'multitask', quantizer: 'rqkmeans', seed: 0, items: m.dataset.items.length, waiting: 0 });
    expect(health.body.answered).toBe(7);  // 2 searches by GET, 2 by POST, 3 recommendations
    // /metrics: Prometheus text, requests by route and status, a cumulative latency histogram
    const scraped = await fetch(`${base}/metrics`);
    expect(scraped.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await scraped.text();
    const value = (series: string) => Number(new RegExp(`^${series.replace(/[{}+.]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text)?.[1]);
    // every request above, counted where it went: 2 searches answered (a GET, a POST of two), 9 bad
    // ones and the body too large, 4 recommendations and 4 bad ones, /health's GET and POST, the
    // unknown route and the target no URL parser takes
    const expected: Record<string, number> = { '/search,200': 2, '/search,400': 9, '/recommend,200': 4, '/recommend,400': 4, '/health,200': 1, '/health,405': 1, 'other,404': 1, 'other,400': 1 };
    for (const [key, n] of Object.entries(expected)) {
      const [route, status] = key.split(',');
      expect(value(`semid_requests_total{route="${route}",status="${status}"}`), key).toBe(n);
    }
    // the body too large: a 413, or "closed" where the connection went mid-upload
    const tooLarge = [413, 'closed'].map((st) => value(`semid_requests_total{route="/search",status="${st}"}`)).filter((n) => !Number.isNaN(n));
    expect(tooLarge).toEqual([1]);
    expect(text.match(/^semid_requests_total/gm)).toHaveLength(Object.keys(expected).length + 1);
    expect(value('semid_queries_answered_total')).toBe(7);
    const buckets = [...text.matchAll(/^semid_request_duration_seconds_bucket\{route="\/search",le="([^"]+)"\} (\d+)$/gm)].map((x) => Number(x[2]));
    expect(buckets.length).toBe(12);
    buckets.forEach((n, i) => { if (i > 0) expect(n).toBeGreaterThanOrEqual(buckets[i - 1]); });
    expect(buckets[buckets.length - 1]).toBe(value('semid_request_duration_seconds_count{route="/search"}'));
    expect(text).toMatch(/^# TYPE semid_request_duration_seconds histogram$/m);
  } finally {
    await close();
    m.model.dispose();
  }
  expect(server.listening).toBe(false);
}

/** `semid serve` as a process: it prints where it listens, answers, and stops cleanly on SIGTERM. */
async function cliChecks(run: string): Promise<void> {
  const bin = join(__dirname, '..', 'bin', 'semid.js');
  if (!existsSync(join(__dirname, '..', 'dist', 'cli', 'main.js'))) return;  // the CLI runs the build (npm install makes it)
  const child = spawn(process.execPath, [bin, 'serve', '--run', run, '--port', '0', '--max-wait-ms', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const base = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const at = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (at) resolve(at[1]);
    });
    void exited.then((code) => reject(new Error(`semid serve exited ${code}: ${err}`)));
  });
  const r = await fetch(`${base}/search?q=space&top=3&beams=8&groups=4`);
  expect(r.status).toBe(200);
  expect((await r.json()).answers).toHaveLength(3);
  child.kill('SIGTERM');
  expect(await exited, err).toBe(0);
  expect(out).toMatch(/stopped after 1 queries in 1 batches/);
  expect(err).toMatch(/ GET \/search\?q=space&top=3&beams=8&groups=4 200 [\d.]+ ms\n/);
}

/** All the serving checks on a run that trained a multitask model (synthetic catalogue). */
export async function checkServing(run: string): Promise<void> {
  await batcherChecks(run);
  await serverChecks(run);
  await cliChecks(run);
}
