// Query generation through an OpenAI-compatible endpoint and `data download`, both against local
// HTTP servers on 127.0.0.1 started here: retries, validation, bounded concurrency, resume, checks.
import { describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildInteractions, buildItemMeta, crc32, downloadMovieLens, llmQuerySource, parseQueryAnswer, queryProblem, readMovieLens, syntheticMovieLens, templateQueries } from '../src/index.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'semid-net-'));

async function serve(handler: (req: IncomingMessage, body: string, res: ServerResponse) => void): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => handler(req, body, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

function items(n: number) {
  const ml = syntheticMovieLens({ movies: n, users: 10, ratingsPerUser: 30 });
  return buildItemMeta(ml, buildInteractions(ml, { catalogue: 'all' }));
}

describe('LLM query source (local OpenAI-compatible server)', () => {
  it('retries server errors and invalid answers, bounds concurrency, caches, and resumes', async () => {
    const catalogue = items(12);
    const byTitle = new Map(catalogue.map((m) => [m.title, m]));
    const attempts = new Map<string, number>();
    let inFlight = 0;
    let maxInFlight = 0;
    let auth = '';
    const server = await serve((req, body, res) => {
      auth = String(req.headers.authorization ?? '');
      const prompt = JSON.parse(body).messages[0].content as string;
      const title = /Title: (.*)/.exec(prompt)![1];
      const item = byTitle.get(title)!;
      const n = (attempts.get(title) ?? 0) + 1;
      attempts.set(title, n);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      setTimeout(() => {
        inFlight--;
        const idx = catalogue.indexOf(item);
        if (idx % 3 === 0 && n === 1) { res.writeHead(503); res.end('busy'); return; }
        let queries = templateQueries(item, 5);
        if (idx % 4 === 1 && n === 1) queries = [item.title, ...queries.slice(1)]; // invalid: contains the title
        const content = idx % 2 ? '```json\n' + JSON.stringify(queries) + '\n```' : queries.map((q, i) => `${i + 1}. ${q}`).join('\n');
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content } }] }));
      }, 5);
    });
    try {
      const cachePath = join(tmp(), 'cache.jsonl');
      process.env.SEMID_TEST_KEY = 'sk-test';
      const source = llmQuerySource({ endpoint: `${server.url}/v1`, model: 'm', apiKeyEnv: 'SEMID_TEST_KEY', concurrency: 3, backoffMs: 1, cachePath });
      const out = await source.generate(catalogue);
      catalogue.forEach((m, i) => expect(queryProblem(out[i], m)).toBeNull());
      expect(auth).toBe('Bearer sk-test');
      expect(maxInFlight).toBeLessThanOrEqual(3);
      expect(maxInFlight).toBeGreaterThan(1);
      expect(source.stats.retries).toBe(catalogue.filter((_, i) => i % 3 === 0 || i % 4 === 1).length);
      expect(readFileSync(cachePath, 'utf8').trim().split('\n').length).toBe(12);
      // resume: a cut last line is ignored, cached items are not asked again
      const lines = readFileSync(cachePath, 'utf8').trim().split('\n');
      writeFileSync(cachePath, lines.slice(0, 8).join('\n') + '\n' + lines[8].slice(0, 20));
      const again = llmQuerySource({ endpoint: `${server.url}/v1/chat/completions`, model: 'm', concurrency: 2, backoffMs: 1, cachePath });
      const before = [...attempts.values()].reduce((a, b) => a + b, 0);
      const out2 = await again.generate(catalogue);
      expect(again.stats.cached).toBe(8);
      expect([...attempts.values()].reduce((a, b) => a + b, 0) - before).toBe(4);
      expect(out2.slice(0, 8)).toEqual(out.slice(0, 8));
    } finally {
      delete process.env.SEMID_TEST_KEY;
      await server.close();
    }
  });

  it('gives up with a clear error, keeping what it has; 401 is not retried', async () => {
    const catalogue = items(10).slice(0, 3);
    let calls = 0;
    const server = await serve((_req, _body, res) => { calls++; res.writeHead(500); res.end(); });
    try {
      const cachePath = join(tmp(), 'c.jsonl');
      const source = llmQuerySource({ endpoint: server.url, model: 'm', concurrency: 1, maxAttempts: 3, backoffMs: 1, cachePath });
      await expect(source.generate(catalogue)).rejects.toThrow(/gave up on movieId \d+ after 3 attempts: .* answered HTTP 500.*run again to resume/);
      expect(calls).toBe(3);
    } finally {
      await server.close();
    }
    const denied = await serve((_req, _body, res) => { res.writeHead(401); res.end('{"error":"bad key"}'); });
    try {
      const source = llmQuerySource({ endpoint: denied.url, model: 'm', apiKeyEnv: 'SEMID_NO_SUCH_KEY', cachePath: join(tmp(), 'c.jsonl') });
      await expect(source.generate(catalogue)).rejects.toThrow(/HTTP 401 \(check the API key in \$SEMID_NO_SUCH_KEY\)/);
    } finally {
      await denied.close();
    }
    expect(() => llmQuerySource({ endpoint: 'ftp://x', model: 'm', cachePath: 'c' })).toThrow(/Expected an http\(s\) URL for endpoint/);
  });

  it('reads the usual answer shapes', () => {
    expect(parseQueryAnswer('["a", "b"]')).toEqual(['a', 'b']);
    expect(parseQueryAnswer('{"queries": ["a"]}')).toEqual(['a']);
    expect(parseQueryAnswer('Sure! Here they are: ["x", "y"] enjoy')).toEqual(['x', 'y']);
    expect(parseQueryAnswer('1. first one\n2) second\n- third')).toEqual(['first one', 'second', 'third']);
  });
});

/** A zip with stored and deflated entries, as GroupLens archives have. */
function makeZip(files: Record<string, string>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  Object.entries(files).forEach(([name, text], i) => {
    const data = Buffer.from(text);
    const method = i % 2 ? 0 : 8;
    const body = method === 8 ? deflateRawSync(data) : data;
    const nameBuf = Buffer.from(name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0); local.writeUInt16LE(20, 4); local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc32(data), 14); local.writeUInt32LE(body.length, 18); local.writeUInt32LE(data.length, 22); local.writeUInt16LE(nameBuf.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0); central.writeUInt16LE(20, 4); central.writeUInt16LE(20, 6); central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc32(data), 16); central.writeUInt32LE(body.length, 20); central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBuf.length, 28); central.writeUInt32LE(offset, 42);
    locals.push(local, nameBuf, body);
    centrals.push(central, nameBuf);
    offset += 30 + nameBuf.length + body.length;
  });
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(Object.keys(files).length, 8); end.writeUInt16LE(Object.keys(files).length, 10);
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

describe('data download', () => {
  it('downloads, checks the MD5, unpacks, and the result reads as MovieLens', async () => {
    const zip = makeZip({
      'ml-latest-small/movies.csv': 'movieId,title,genres\n1,Toy Story (1995),Animation\n2,Heat (1995),Crime\n',
      'ml-latest-small/ratings.csv': 'userId,movieId,rating,timestamp\n1,1,4.0,1\n1,2,3.5,2\n1,1,5,3\n',
    });
    let md5 = createHash('md5').update(zip).digest('hex');
    const server = await serve((req, _b, res) => {
      if (req.url!.endsWith('.zip')) { res.writeHead(200, { 'content-length': zip.length }); res.end(zip); return; }
      if (req.url!.endsWith('.zip.md5')) { res.writeHead(200); res.end(`MD5 (ml-latest-small.zip) = ${md5}\n`); return; }
      res.writeHead(404); res.end();
    });
    try {
      const to = tmp();
      const dir = await downloadMovieLens('ml-latest-small', { to, baseUrl: server.url });
      expect(existsSync(join(dir, 'ratings.csv'))).toBe(true);
      const ml = await readMovieLens(dir);
      expect(ml.ratings.length).toBe(3);
      md5 = '0'.repeat(32);
      await expect(downloadMovieLens('ml-latest-small', { to, baseUrl: server.url })).rejects.toThrow(/MD5 is [0-9a-f]{32}, GroupLens says 0{32}/);
    } finally {
      await server.close();
    }
    // an archive whose top folder is not the release's (a mirror's repack) says what it holds
    const repack = makeZip({ 'movielens/movies.csv': 'movieId,title,genres\n' });
    const mirror = await serve((req, _b, res) => {
      if (req.url!.endsWith('.zip')) { res.writeHead(200); res.end(repack); return; }
      res.writeHead(404); res.end();
    });
    try {
      const to = tmp();
      await expect(downloadMovieLens('ml-100k', { to, baseUrl: mirror.url })).rejects.toThrow(/ml-100k\.zip holds "movielens" at its top, not the folder "ml-100k\/"/);
      expect(readdirSync(to).filter((f) => f.startsWith('.'))).toEqual([]);  // no staging folder left behind
    } finally {
      await mirror.close();
    }
    await expect(downloadMovieLens('ml-7m')).rejects.toThrow(/Expected one of ml-latest-small, .* for release but received "ml-7m"/);
    await expect(downloadMovieLens('ml-100k', { baseUrl: 'http://127.0.0.1:1', to: tmp() })).rejects.toThrow(/could not download http:\/\/127\.0\.0\.1:1\/ml-100k\.zip: .*--movielens <dir>/);
  });
});
