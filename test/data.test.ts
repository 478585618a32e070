// Data: MovieLens readers on the real ml-latest-small and on ML-1M / ML-100K fixtures written here,
// interactions and splits, queries (template, JSONL), the joint data set, bad input.
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildInteractions, buildItemMeta, buildJointDataset, containsTitle, jsonlQuerySource, loadJointDataset, parseTitle, queryProblem,
  readMovieLens, readNumericColumns, recExample, resolveDataSource, sharedMovieLensDir, syntheticMovieLens, templateQuerySource,
  writeJointDataset, type MovieLensData,
} from '../src/index.js';

const shared = sharedMovieLensDir();
const hasShared = existsSync(join(shared, 'ratings.csv'));
const tmp = () => mkdtempSync(join(tmpdir(), 'semid-data-'));

/** An ML-1M style folder (Latin-1, `::`), with an accented title and a tie in timestamps. */
function writeMl1m(dir: string): void {
  writeFileSync(join(dir, 'movies.dat'), Buffer.from([
    '1::Toy Story (1995)::Animation|Children\'s|Comedy',
    '2::Cité des enfants perdus, La (1995)::Adventure|Sci-Fi',
    '3::American President, The (1995)::Comedy|Drama|Romance',
    '4::Heat (1995)::Action|Crime|Thriller',
  ].join('\n') + '\n', 'latin1'));
  const rows = [
    [1, 1, 5, 100], [1, 2, 3, 100], [1, 3, 4, 90], [1, 4, 2, 300],
    [2, 4, 5, 10], [2, 1, 4, 20], [2, 2, 1, 30],
    [3, 3, 5, 50], [3, 1, 3, 60],
  ];
  writeFileSync(join(dir, 'ratings.dat'), rows.map((r) => r.join('::')).join('\n') + '\n');
}

/** An ML-100K style folder: tab-separated u.data, pipe-separated Latin-1 u.item with 19 flags. */
function writeMl100k(dir: string): void {
  const flags = (on: number[]) => Array.from({ length: 19 }, (_, g) => (on.includes(g) ? '1' : '0')).join('|');
  writeFileSync(join(dir, 'u.item'), Buffer.from([
    `1|Toy Story (1995)|01-Jan-1995||http://x|${flags([3, 4, 5])}`,
    `2|GoldenEye (1995)|01-Jan-1995||http://x|${flags([1, 2, 16])}`,
    `3|Nénette et Boni|01-Jan-1996||http://x|${flags([8])}`,
  ].join('\n') + '\n', 'latin1'));
  writeFileSync(join(dir, 'u.data'), ['1\t1\t5\t881250949', '1\t2\t3\t881250950', '1\t3\t4\t881250951', '2\t3\t4\t881250000', '2\t1\t2\t881250001', '2\t2\t5\t881250002'].join('\n') + '\n');
}

describe.skipIf(!hasShared)('ml-latest-small (../shared/data)', () => {
  it('reads the counts the MovieLens README gives', async () => {
    const ml = await readMovieLens(shared);
    expect(ml.format).toBe('csv');
    expect(ml.movies.movieId.length).toBe(9742);
    expect(ml.ratings.length).toBe(100836);
    expect(ml.tags!.length).toBe(3683);
    expect(new Set(ml.ratings.userId).size).toBe(610);
    expect(ml.ratings.rating.every((r) => r >= 0.5 && r <= 5)).toBe(true);
    expect(ml.links!.movieId.length).toBe(9742);
    expect(ml.links!.imdbId[0]).toBe('0114709');
    expect(ml.links!.tmdbId[0]).toBe(862);
    const i = ml.movies.movieId.indexOf(11);
    expect(ml.movies.title[i]).toBe('American President, The (1995)');
    expect(ml.movies.genres[i]).toEqual(['Comedy', 'Drama', 'Romance']);
  });

  it('splits chronologically and disjointly, and every query avoids its title', async () => {
    const ml = await readMovieLens(shared);
    const ds = await buildJointDataset(ml, templateQuerySource(42));
    const it = ds.interactions;
    expect(it.userId.length).toBe(610);
    for (let u = 0; u < it.userId.length; u++) {
      const a = it.userOffsets[u];
      const b = it.userOffsets[u + 1];
      for (let k = a + 1; k < b; k++) expect(it.sequenceTimestamp[k] >= it.sequenceTimestamp[k - 1]).toBe(true);
      // validation target = second to last, test target = last, train = the rest
      const v = recExample(ds, 'validation', u);
      const t = recExample(ds, 'test', u);
      expect(v.target).toBe(it.sequence[b - 2]);
      expect(t.target).toBe(it.sequence[b - 1]);
      expect(t.history.length).toBe(Math.min(20, b - a - 1));
    }
    // every train example's target lies strictly before the user's validation position
    for (let r = 0; r < ds.rec.train.length / 4; r++) {
      const u = ds.rec.train[r * 4];
      const end = ds.rec.train[r * 4 + 2];
      expect(end).toBeLessThan(it.userOffsets[u + 1] - 2);
      expect(end - ds.rec.train[r * 4 + 1]).toBeLessThanOrEqual(20);
    }
    // popularity counts train interactions only
    let trainTotal = 0;
    for (let u = 0; u < it.userId.length; u++) trainTotal += it.userOffsets[u + 1] - it.userOffsets[u] - 2;
    expect(it.popularity.reduce((s, x) => s + x, 0)).toBe(trainTotal);
    expect(ds.manifest.summary.headItems).toBe(Math.ceil(0.01 * ds.items.length));
    // queries: 20 per item, 10/10, none containing the title, train and test disjoint
    expect(ds.search.train.length).toBe(ds.items.length * 10);
    expect(ds.search.test.length).toBe(ds.items.length * 10);
    ds.items.forEach((item, i) => {
      expect(queryProblem([...ds.queries[i].train, ...ds.queries[i].test], item)).toBeNull();
    });
    const ids = new Set([...ds.search.train, ...ds.search.test].map((e) => e.id));
    expect(ids.size).toBe(ds.items.length * 20);
  }, 60_000);
});

describe('MovieLens formats', () => {
  it('reads ML-1M (::, Latin-1) and orders ties by file order', async () => {
    const dir = tmp();
    writeMl1m(dir);
    const ml = await readMovieLens(dir);
    expect(ml.format).toBe('dat');
    expect(ml.movies.title[1]).toBe('Cité des enfants perdus, La (1995)');
    expect(ml.movies.genres[0]).toEqual(['Animation', "Children's", 'Comedy']);
    expect(ml.ratings.length).toBe(9);
    const it = buildInteractions(ml);
    // user 1: (3,90) then (1,100) and (2,100) tie -> file order, then (4,300)
    expect(Array.from(it.sequence.subarray(0, 4), (i) => it.itemMovieId[i])).toEqual([3, 1, 2, 4]);
    expect(parseTitle(ml.movies.title[1]).display).toBe('La Cité des enfants perdus');
  });

  it('reads ML-100K (tabs, pipes, genre flags, Latin-1)', async () => {
    const dir = tmp();
    writeMl100k(dir);
    const ml = await readMovieLens(dir);
    expect(ml.format).toBe('ml-100k');
    expect(ml.movies.genres[0]).toEqual(['Animation', "Children's", 'Comedy']);
    expect(ml.movies.title[2]).toBe('Nénette et Boni (1996)');
    expect(ml.ratings.timestamp[0]).toBe(881250949);
  });

  it('parses quoted CSV fields and CRLF line ends, and counts rows it does not use', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'movies.csv'), 'movieId,title,genres\r\n1,"Shawshank Redemption, The (1994)",Crime|Drama\r\n2,"Say ""Cheese"" (2001)",(no genres listed)\r\n');
    writeFileSync(join(dir, 'ratings.csv'), 'userId,movieId,rating,timestamp\r\n1,1,4.5,10\r\n1,2,3,11\r\n1,99,3,12\r\n1,1,2.0,13\r\n');
    writeFileSync(join(dir, 'tags.csv'), 'userId,movieId,tag,timestamp\n1,1,"prison, hope",10\n1,2,,11\n');
    const ml = await readMovieLens(dir);
    expect(ml.movies.title).toEqual(['Shawshank Redemption, The (1994)', 'Say "Cheese" (2001)']);
    expect(ml.movies.genres[1]).toEqual([]);
    expect(Array.from(ml.ratings.rating)).toEqual([4.5, 3, 3, 2]);
    expect(ml.tags!.tag).toEqual(['prison, hope']);
    expect(ml.dropped).toEqual([{ file: 'tags.csv', reason: 'empty tag text', rows: 1 }]);
    const it = buildInteractions(ml);
    expect(it.dropped).toEqual([{ file: 'ratings.csv', reason: 'movieId not in the movies file', rows: 1 }]);
    expect(it.sequence.length).toBe(3);
  });

  it('streams numbers across read boundaries exactly as parseFloat reads them', async () => {
    const dir = tmp();
    const lines = ['movieId,tagId,relevance'];
    const values: number[] = [];
    for (let i = 0; i < 20000; i++) {
      const v = [0.029000000000000026, 1e-5, -0.5, 0.875, 1, 2.5e-3][i % 6];
      values.push(v);
      lines.push(`${i},${i % 1128},${i % 6 === 1 ? '1e-05' : String(v)}`);
    }
    writeFileSync(join(dir, 'g.csv'), lines.join('\r\n'));
    const r = await readNumericColumns(join(dir, 'g.csv'), {
      separator: ',', header: true, formatName: 'genome', chunkBytes: 1 << 16,
      columns: [{ name: 'movieId', type: 'int32' }, { name: 'tagId', type: 'skip' }, { name: 'relevance', type: 'float64' }],
    });
    expect(r.rows).toBe(20000);
    expect(r.columns.tagId).toBeUndefined();
    expect(Array.from(r.columns.relevance)).toEqual(values);
    expect(r.columns.movieId[19999]).toBe(19999);
  });

  it('reads files that start with a UTF-8 byte order mark, with or without a header', async () => {
    const dir = tmp();
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    writeFileSync(join(dir, 'movies.csv'), Buffer.concat([bom, Buffer.from('movieId,title,genres\n1,A (1990),Drama\n')]));
    writeFileSync(join(dir, 'ratings.csv'), Buffer.concat([bom, Buffer.from('userId,movieId,rating,timestamp\n7,1,4.5,10\n')]));
    const ml = await readMovieLens(dir);
    expect(Array.from(ml.ratings.userId)).toEqual([7]);
    expect(Array.from(ml.ratings.rating)).toEqual([4.5]);
    writeFileSync(join(dir, 'r.dat'), Buffer.concat([bom, Buffer.from('3::1::5::978300760\n')]));
    const r = await readNumericColumns(join(dir, 'r.dat'), {
      separator: '::', header: false, formatName: 'ratings.dat',
      columns: [{ name: 'userId', type: 'int32' }, { name: 'movieId', type: 'int32' }, { name: 'rating', type: 'float32' }, { name: 'timestamp', type: 'float64' }],
    });
    expect(Array.from(r.columns.userId)).toEqual([3]);
    expect(Array.from(r.columns.timestamp)).toEqual([978300760]);
    // the `::` releases and JSONL descriptions too
    const dat = tmp();
    writeFileSync(join(dat, 'movies.dat'), Buffer.concat([bom, Buffer.from('1::Toy Story (1995)::Animation\n')]));
    writeFileSync(join(dat, 'ratings.dat'), Buffer.concat([bom, Buffer.from('3::1::5::978300760\n')]));
    writeFileSync(join(dat, 'plots.jsonl'), Buffer.concat([bom, Buffer.from('{"movieId": 1, "description": "Toys come alive."}\n')]));
    const ml1 = await readMovieLens(dat, { descriptions: join(dat, 'plots.jsonl') });
    expect(Array.from(ml1.movies.movieId)).toEqual([1]);
    expect(ml1.descriptions!.get(1)).toBe('Toys come alive.');
  });

  it('takes decimal numbers only: hexadecimal, binary and empty fields are errors', async () => {
    const dir = tmp();
    const columns = [{ name: 'a', type: 'float64' as const }, { name: 'b', type: 'int32' as const }];
    const read = (text: string) => {
      writeFileSync(join(dir, 'n.csv'), text);
      return readNumericColumns(join(dir, 'n.csv'), { separator: ',', header: false, formatName: 'n.csv', columns });
    };
    expect(Array.from((await read(' -1.5e2 ,+7\n.5,3\n5.,-0\n')).columns.a)).toEqual([-150, 0.5, 5]);
    await expect(read('0x1f,1\n')).rejects.toThrow(/n\.csv:1: field a is "0x1f", not a number/);
    await expect(read('1,0b11\n')).rejects.toThrow(/n\.csv:1: field b is "0b11", not a number/);
    await expect(read('1, \n')).rejects.toThrow(/n\.csv:1: field b is "", not a number/);
    await expect(read('1,Infinity\n')).rejects.toThrow(/field b is "Infinity", not a number/);
  });
});

describe('genome, links and descriptions', () => {
  it('item text takes genome tags above the threshold, links and descriptions', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'movies.csv'), 'movieId,title,genres\n1,Alien (1979),Horror|Sci-Fi\n2,Amélie (2001),Comedy|Romance\n');
    writeFileSync(join(dir, 'ratings.csv'), 'userId,movieId,rating,timestamp\n1,1,4,1\n1,2,4,2\n1,1,3,3\n');
    writeFileSync(join(dir, 'links.csv'), 'movieId,imdbId,tmdbId\n1,0078748,348\n2,0211915,\n');
    writeFileSync(join(dir, 'genome-tags.csv'), 'tagId,tag\n1,space\n2,paris\n3,claustrophobic\n');
    writeFileSync(join(dir, 'genome-scores.csv'), 'movieId,tagId,relevance\n1,1,0.95\n1,2,0.1\n1,3,0.85\n2,1,0.2\n2,2,0.99\n2,3,0.05\n');
    writeFileSync(join(dir, 'plots.jsonl'), '{"movieId": 1, "description": "A crew meets a deadly creature."}\n');
    const ml = await readMovieLens(dir, { descriptions: join(dir, 'plots.jsonl') });
    expect(ml.genome!.length).toBe(6);
    const items = buildItemMeta(ml, buildInteractions(ml));
    expect(items[0].genomeTags).toEqual(['space', 'claustrophobic']);
    expect(items[1].genomeTags).toEqual(['paris']);
    expect(items[0].imdbId).toBe('0078748');
    expect(items[1].tmdbId).toBeNull();
    expect(items[0].text).toBe('Alien (1979). Genres: Horror, Sci-Fi. Themes: space, claustrophobic. A crew meets a deadly creature.');
    expect(buildItemMeta(ml, buildInteractions(ml), { genomeThreshold: 0.9 })[0].genomeTags).toEqual(['space']);
    writeFileSync(join(dir, 'plots.csv'), 'movieId,description\n2,"A shy waitress, in Paris."\n');
    expect((await readMovieLens(dir, { descriptions: join(dir, 'plots.csv') })).descriptions!.get(2)).toBe('A shy waitress, in Paris.');
    writeFileSync(join(dir, 'plots.jsonl'), '{"movieId": "x"}\n');
    await expect(readMovieLens(dir, { descriptions: join(dir, 'plots.jsonl') })).rejects.toThrow(/plots\.jsonl:1: expected \{"movieId"/);
  });
});

describe('bad input', () => {
  it('a malformed row names the file and the line', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'movies.csv'), 'movieId,title,genres\n1,A (1990),Drama\n');
    writeFileSync(join(dir, 'ratings.csv'), 'userId,movieId,rating,timestamp\n1,1,4,10\n\n1,1,four,11\n');
    await expect(readMovieLens(dir)).rejects.toThrow(/ratings\.csv:4: field rating is "four", not a number/);
    writeFileSync(join(dir, 'ratings.csv'), 'userId,movieId,rating,timestamp\n1,1,4,10,99\n');
    await expect(readMovieLens(dir)).rejects.toThrow(/ratings\.csv:2: found more than 4 fields/);
    writeFileSync(join(dir, 'ratings.csv'), 'user,movie,rating,time\n1,1,4,10\n');
    await expect(readMovieLens(dir)).rejects.toThrow(/ratings\.csv:1: header is "user,movie,rating,time"/);
    writeFileSync(join(dir, 'ratings.csv'), 'userId,movieId,rating,timestamp\n1.5,1,4,10\n');
    await expect(readMovieLens(dir)).rejects.toThrow(/ratings\.csv:2: field userId is 1\.5, not a 32-bit integer/);
    writeFileSync(join(dir, 'movies.csv'), 'movieId,title,genres\n1,"A (1990),Drama\n');
    await expect(readMovieLens(dir)).rejects.toThrow(/movies\.csv:2: a quoted field is never closed/);
  });

  it('a missing file names the path and the format expected', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'movies.csv'), 'movieId,title,genres\n');
    await expect(readMovieLens(dir)).rejects.toThrow(/ratings\.csv: is missing \(expected ratings\.csv \(userId,movieId,rating,timestamp\)/);
    await expect(readMovieLens(join(dir, 'nope'))).rejects.toThrow(/nope: does not exist \(expected a MovieLens folder/);
    const empty = tmp();
    await expect(readMovieLens(empty)).rejects.toThrow(/holds no MovieLens files/);
    expect(() => resolveDataSource(empty)).toThrow(/is not a MovieLens folder \(given by --movielens/);
  });
});

describe('titles and queries', () => {
  it('knows when a query contains a title', () => {
    const names = parseTitle('Lord of the Rings: The Fellowship of the Ring, The (2001)').names;
    expect(containsTitle('movies like the lord of the rings: the fellowship of the ring', names)).toBe(true);
    expect(containsTitle('lord of the rings fellowship of the ring style', names)).toBe(true);
    expect(containsTitle('epic fantasy quest', names)).toBe(false);
    expect(containsTitle('a film about her past', parseTitle('Her (2013)').names)).toBe(true);
    expect(containsTitle('matrix style sci-fi', parseTitle('Matrix, The (1999)').names)).toBe(false);
    expect(containsTitle('the matrix', parseTitle('Matrix, The (1999)').names)).toBe(true);
    expect(containsTitle('seven samurai remake', parseTitle('Seven Samurai (Shichinin no samurai) (1954)').names)).toBe(true);
    expect(containsTitle('shichinin no samurai', parseTitle('Seven Samurai (Shichinin no samurai) (1954)').names)).toBe(true);
    expect(containsTitle('cite des enfants perdus', parseTitle('City of Lost Children, The (Cité des enfants perdus, La) (1995)').names)).toBe(true);
  });

  it('template queries are deterministic per seed, 20 distinct, without the title, even for one-word titles', async () => {
    const ml = syntheticMovieLens({ movies: 60, users: 20 });
    ml.movies.title[0] = 'Up (2009)';
    ml.movies.title[1] = 'Movie (1999)';
    const it = buildInteractions(ml, { catalogue: 'all' });
    const items = buildItemMeta(ml, it);
    const a = await templateQuerySource(1).generate(items);
    const b = await templateQuerySource(1).generate(items);
    const c = await templateQuerySource(2).generate(items);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    items.forEach((item, i) => expect(queryProblem(a[i], item)).toBeNull());
  });

  it('JSONL import validates counts, titles, empties and coverage', async () => {
    const ml = syntheticMovieLens({ movies: 30, users: 15 });
    const it = buildInteractions(ml);
    const items = buildItemMeta(ml, it);
    const good = await templateQuerySource(3).generate(items);
    const dir = tmp();
    const file = join(dir, 'q.jsonl');
    const rows = items.map((m, i) => ({ movieId: m.movieId, queries: good[i] }));
    writeFileSync(file, [...rows, { movieId: 999999, queries: good[0] }].map((r) => JSON.stringify(r)).join('\n'));
    const source = jsonlQuerySource(file);
    expect(await source.generate(items)).toEqual(good);
    expect(source.report.unknownMovies).toBe(1);
    const bad = rows.map((r) => ({ ...r, queries: [...r.queries] }));
    bad[0].queries.pop();
    bad[1].queries[3] = items[1].title;
    bad[2].queries[5] = '  ';
    writeFileSync(file, bad.slice(0, -1).map((r) => JSON.stringify(r)).join('\n') + '\n{oops\n');
    const err = await jsonlQuerySource(file).generate(items).catch((e) => e as Error);
    expect(err.message).toMatch(/line 1: movieId \d+: has 19 queries, expected exactly 20/);
    expect(err.message).toMatch(/line 2: movieId \d+: query 4 ".*" contains the title/);
    expect(err.message).toMatch(/line 3: movieId \d+: query 6 is empty/);
    expect(err.message).toMatch(/is not valid JSON/);
    expect(err.message).toMatch(/1 catalogue movie has no line/);
  });
});

describe('joint data set', () => {
  const build = async (seed: number, ml: MovieLensData) => buildJointDataset(ml, templateQuerySource(seed), { seed, maxHistory: 5, searchValidationQueries: 2 });

  it('the same seed writes byte-identical files; a different seed does not', async () => {
    const ml = syntheticMovieLens({ movies: 120, users: 60 });
    const [a, b, c] = [tmp(), tmp(), tmp()];
    writeJointDataset(await build(7, ml), a);
    writeJointDataset(await build(7, ml), b);
    writeJointDataset(await build(8, ml), c);
    const files = readdirSync(join(a, 'data')).sort();
    expect(files).toContain('manifest.json');
    for (const f of files) expect(readFileSync(join(a, 'data', f)).equals(readFileSync(join(b, 'data', f))), f).toBe(true);
    expect(readFileSync(join(a, 'data', 'search_train.jsonl')).equals(readFileSync(join(c, 'data', 'search_train.jsonl')))).toBe(false);
  });

  it('round-trips through the run folder with stable ids and honest counts', async () => {
    const ml = syntheticMovieLens({ movies: 150, users: 50 });
    const ds = await build(3, ml);
    const dir = tmp();
    writeJointDataset(ds, dir);
    const back = loadJointDataset(dir);
    expect(back.manifest.summary).toEqual(ds.manifest.summary);
    expect(back.search.validation.length).toBe(ds.items.length * 2);
    expect(back.search.train.length).toBe(ds.items.length * 8);
    expect(back.search.test[5]).toEqual(ds.search.test[5]);
    expect(Array.from(back.rec.train)).toEqual(Array.from(ds.rec.train));
    const ex = recExample(back, 'test', 4);
    expect(ex.id).toMatch(/^u\d+@\d+$/);
    expect(ex.history.length).toBeLessThanOrEqual(5);
    expect(back.items[0].titleNames.length).toBeGreaterThan(0);
    // a damaged file is caught
    writeFileSync(join(dir, 'data', 'sequence.npy'), readFileSync(join(dir, 'data', 'sequence.npy')).subarray(0, 100));
    expect(() => loadJointDataset(dir)).toThrow(/sequence\.npy: does not match the manifest/);
  });

  it('filters: minimum rating, user sample and k-core, each counted', () => {
    const ml = syntheticMovieLens({ movies: 200, users: 100 });
    const all = buildInteractions(ml);
    const f = buildInteractions(ml, { minRating: 3.5, maxUsers: 40, kCore: 4 });
    expect(f.userId.length).toBeLessThanOrEqual(40);
    const reasons = f.dropped.map((d) => d.reason).join('|');
    expect(reasons).toMatch(/rating below minRating 3.5/);
    expect(reasons).toMatch(/user not in the sample of 40 users/);
    const droppedRows = f.dropped.reduce((s, d) => s + d.rows, 0);
    expect(f.sequence.length + droppedRows).toBe(all.sequence.length);
    // k-core holds after filtering
    const itemCount = new Map<number, number>();
    for (const i of f.sequence) itemCount.set(i, (itemCount.get(i) ?? 0) + 1);
    for (const c of itemCount.values()) expect(c).toBeGreaterThanOrEqual(4);
    for (let u = 0; u < f.userId.length; u++) expect(f.userOffsets[u + 1] - f.userOffsets[u]).toBeGreaterThanOrEqual(4);
    expect(() => buildInteractions(ml, { minUserInteractions: 2 })).toThrow(/Expected integer between 3 and 1000000000 for minUserInteractions but received 2/);
  });
});

describe('data source', () => {
  it('prefers --movielens, then SEMID_DATA, then ../shared, then synthetic', () => {
    const dir = tmp();
    writeMl100k(dir);
    expect(resolveDataSource(dir, {})).toEqual({ dir, origin: 'argument' });
    expect(resolveDataSource(undefined, { SEMID_DATA: dir })).toEqual({ dir, origin: 'SEMID_DATA' });
    expect(() => resolveDataSource(undefined, { SEMID_DATA: join(dir, 'x') })).toThrow(/given by the SEMID_DATA environment variable/);
    expect(resolveDataSource(undefined, {}).origin).toBe(hasShared ? 'shared' : 'synthetic');
    mkdirSync(join(dir, 'sub'));
  });
});
