/**
 * The study's report: report.md with the paper's tables (ours beside the paper's), significance
 * against Multi-task (paired t-tests on per-example Recall@30, Bonferroni), Figure 1 as SVG,
 * collision statistics, the embedding spaces' dense baselines, timings and settings; and
 * results.json with every per-example result.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';
import { writeFileAtomic } from '../io/atomic.js';
import { bonferroni, mean, pairedTTest, std } from '../eval/stats.js';
import type { ExampleResult } from '../eval/generative.js';
import type { StrategyResult, StudyProfile } from './study.js';
import type { DatasetManifest } from '../data/dataset.js';
import type { CollisionPolicy } from '../ids/strategies.js';
import { Canvas } from './png.js';

/** The paper's Recall@30 (search / rec), Table 2 and the quantizer ablation. */
export const PAPER_RECALL30: Record<string, { search: number; rec: number }> = {
  content: { search: 0.013, rec: 0.023 }, search: { search: 0.072, rec: 0.026 }, rec: { search: 0.004, rec: 0.062 },
  multitask: { search: 0.046, rec: 0.049 }, separate: { search: 0.028, rec: 0.032 }, 'prefix-share': { search: 0.007, rec: 0.021 },
  'fused-concat': { search: 0.048, rec: 0.018 }, 'fused-svd': { search: 0.033, rec: 0.038 },
};
export const PAPER_QUANTIZERS: Record<string, { search: number; rec: number }> = {
  rqkmeans: { search: 0.046, rec: 0.049 }, dictionary: { search: 0.019, rec: 0.029 }, rlfq: { search: 0.018, rec: 0.023 }, rqvae: { search: 0.002, rec: 0.024 },
};
const NAMES: Record<string, string> = {
  content: 'Content', search: 'Search-based', rec: 'Rec-based', multitask: 'Multi-task', separate: 'Separate', 'prefix-share': 'Prefix-share',
  'fused-concat': 'Fused-concat', 'fused-svd': 'Fused-SVD',
};

const r30 = (xs: ExampleResult[]) => xs.map((x) => x.recall30);

interface Row { key: string; search: number[]; rec: number[]; head: number[]; torso: number[]; perExampleSearch: number[]; perExampleRec: number[] }

function aggregate(results: StrategyResult[], by: (r: StrategyResult) => string): Map<string, Row> {
  const rows = new Map<string, Row>();
  for (const r of results) {
    const key = by(r);
    const row = rows.get(key) ?? { key, search: [], rec: [], head: [], torso: [], perExampleSearch: [], perExampleRec: [] };
    row.search.push(mean(r30(r.search)));
    row.rec.push(mean(r30(r.rec)));
    row.head.push(mean(r30(r.rec.filter((x) => x.head))));
    row.torso.push(mean(r30(r.rec.filter((x) => !x.head))));
    // per-example Recall@30 summed over seeds (the same examples in every seed), averaged below
    const add = (acc: number[], xs: number[]) => xs.forEach((x, i) => { acc[i] = (acc[i] ?? 0) + x; });
    add(row.perExampleSearch, r30(r.search));
    add(row.perExampleRec, r30(r.rec));
    rows.set(key, row);
  }
  for (const row of rows.values()) {
    const n = row.search.length;
    row.perExampleSearch = row.perExampleSearch.map((x) => x / n);
    row.perExampleRec = row.perExampleRec.map((x) => x / n);
  }
  return rows;
}

function fmt(xs: number[]): string {
  return xs.length > 1 ? `${mean(xs).toFixed(3)} ± ${std(xs).toFixed(3)}` : mean(xs).toFixed(3);
}

/** Significance marks against a reference row: ▲ / ▼ significantly above / below after Bonferroni (p < 0.05). */
function marks(rows: Map<string, Row>, ref: string, field: 'perExampleSearch' | 'perExampleRec'): Map<string, string> {
  const out = new Map<string, string>();
  const base = rows.get(ref);
  if (!base) return out;
  const others = [...rows.keys()].filter((k) => k !== ref && rows.get(k)![field].length === base[field].length && base[field].length > 1);
  const tests = others.map((k) => pairedTTest(rows.get(k)![field], base[field]));
  const adjusted = bonferroni(tests.map((t) => t.pValue));
  others.forEach((k, i) => out.set(k, adjusted[i] < 0.05 ? (tests[i].meanDifference > 0 ? ' ▲' : ' ▼') : ''));
  return out;
}

/**
 * The table comparing the two collision policies: per strategy and quantizer, Recall@30 with the
 * IDs' collisions kept and deduplicated on the units both have (the same seeds), and the paired
 * t-test of dedup against keep on per-example Recall@30 (means over the seeds), Bonferroni over
 * the rows of each task.
 */
function policyComparison(results: StrategyResult[], counterparts: StrategyResult[], policy: CollisionPolicy): string[] {
  const unit = (r: StrategyResult) => `${r.strategy}/${r.quantizer}/${r.seed}`;
  const both = new Set(counterparts.map(unit));
  const mine = results.filter((r) => both.has(unit(r)));
  const by = (r: StrategyResult) => `${r.strategy}|${r.quantizer}`;
  const [keep, dedup] = (policy === 'keep' ? [mine, counterparts] : [counterparts, mine]).map((rs) => aggregate(rs, by));
  const keys = [...keep.keys()].filter((k) => dedup.has(k) && keep.get(k)!.search.length === dedup.get(k)!.search.length);
  const test = (field: 'perExampleSearch' | 'perExampleRec') => {
    const t = keys.map((k) => (keep.get(k)![field].length > 1 ? pairedTTest(dedup.get(k)![field], keep.get(k)![field]) : undefined));
    const p = bonferroni(t.map((x) => x?.pValue ?? 1));
    return keys.map((_, i) => (t[i] === undefined ? '-' : `${p[i].toFixed(3)}${p[i] < 0.05 ? (t[i]!.meanDifference > 0 ? ' ▲' : ' ▼') : ''}`));
  };
  const ps = test('perExampleSearch'), pr = test('perExampleRec');
  return ['', '## Collisions kept vs deduplicated', '',
    `The run folder's results of both collision policies with every other setting the same (${keys.length} strategy / quantizer pairs): Recall@30, and the paired t-test of dedup against keep on per-example Recall@30 (Bonferroni over ${keys.length} comparisons per task; ▲ / ▼ = dedup significantly above / below keep, p < 0.05).`, '',
    '| strategy | quantizer | search keep | search dedup | p | rec keep | rec dedup | p |', '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...keys.map((k, i) => {
      const [strategy, quantizer] = k.split('|');
      const a = keep.get(k)!, b = dedup.get(k)!;
      return `| ${NAMES[strategy] ?? strategy} | ${quantizer} | ${fmt(a.search)} | ${fmt(b.search)} | ${ps[i]} | ${fmt(a.rec)} | ${fmt(b.rec)} | ${pr[i]} |`;
    })];
}

/** Points and axes of Figure 1 (shared by the SVG and the PNG). */
function figureLayout(rows: Map<string, Row>) {
  const pts = [...rows.values()].map((r) => ({ name: NAMES[r.key] ?? r.key, x: mean(r.rec), y: mean(r.search), px: PAPER_RECALL30[r.key]?.rec, py: PAPER_RECALL30[r.key]?.search }));
  const maxX = Math.max(0.01, ...pts.flatMap((p) => [p.x, p.px ?? 0])) * 1.15;
  const maxY = Math.max(0.01, ...pts.flatMap((p) => [p.y, p.py ?? 0])) * 1.15;
  const W = 560, H = 420, L = 60, B = 50, T = 20, R = 20;
  const sx = (v: number) => L + (v / maxX) * (W - L - R);
  const sy = (v: number) => H - B - (v / maxY) * (H - B - T);
  return { pts, maxX, maxY, W, H, L, B, T, R, sx, sy };
}

/**
 * Figure 1 as SVG: search vs recommendation Recall@30 per strategy, ours and the paper's.
 * @example writeFileSync('figure1.svg', figureSvg(rows)) // rows: the study's results per strategy
 */
export function figureSvg(rows: Map<string, Row>): string {
  const { pts, maxX, maxY, W, H, L, B, T, R, sx, sy } = figureLayout(rows);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">Recommendation Recall@30</text>`,
    `<text x="14" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(T + H - B) / 2})">Search Recall@30</text>`];
  for (let i = 0; i <= 4; i++) {
    parts.push(`<text x="${sx((maxX * i) / 4)}" y="${H - B + 14}" text-anchor="middle">${((maxX * i) / 4).toFixed(3)}</text>`);
    parts.push(`<text x="${L - 6}" y="${sy((maxY * i) / 4) + 4}" text-anchor="end">${((maxY * i) / 4).toFixed(3)}</text>`);
  }
  for (const p of pts) {
    parts.push(`<circle cx="${sx(p.x)}" cy="${sy(p.y)}" r="5" fill="#1f77b4"/><text x="${sx(p.x) + 7}" y="${sy(p.y) - 5}">${p.name}</text>`);
    if (p.px !== undefined) parts.push(`<rect x="${sx(p.px) - 4}" y="${sy(p.py!) - 4}" width="8" height="8" fill="none" stroke="#d62728"/>`);
  }
  parts.push(`<circle cx="${W - 150}" cy="${T + 10}" r="5" fill="#1f77b4"/><text x="${W - 140}" y="${T + 14}">semid (this run)</text>`);
  parts.push(`<rect x="${W - 154}" y="${T + 22}" width="8" height="8" fill="none" stroke="#d62728"/><text x="${W - 140}" y="${T + 30}">paper</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

/**
 * Figure 1 as a PNG (the same layout as the SVG, drawn with our raster canvas and 5x7 font).
 * @example writeFileSync('figure1.png', figurePng(rows))
 */
export function figurePng(rows: Map<string, Row>): Buffer {
  const { pts, maxX, maxY, W, H, L, B, T, R, sx, sy } = figureLayout(rows);
  const c = new Canvas(W, H);
  const black: [number, number, number] = [0, 0, 0];
  c.line(L, H - B, W - R, H - B, black);
  c.line(L, T, L, H - B, black);
  for (let i = 0; i <= 4; i++) {
    const vx = (maxX * i) / 4;
    const vy = (maxY * i) / 4;
    c.line(sx(vx), H - B, sx(vx), H - B + 4, black);
    c.text(sx(vx) - 15, H - B + 8, vx.toFixed(3));
    c.line(L - 4, sy(vy), L, sy(vy), black);
    c.text(L - 38, sy(vy) - 3, vy.toFixed(3));
  }
  c.text((L + W - R) / 2 - 75, H - 16, 'RECOMMENDATION RECALL@30');
  c.text(4, T - 14, 'SEARCH RECALL@30');
  for (const p of pts) {
    c.dot(sx(p.x), sy(p.y), 4, [31, 119, 180]);
    c.text(sx(p.x) + 7, sy(p.y) - 10, p.name.replace(/[^A-Za-z0-9 .-]/g, ' '));
    if (p.px !== undefined) c.square(sx(p.px), sy(p.py!), 4, [214, 39, 40]);
  }
  c.dot(W - 150, T + 10, 4, [31, 119, 180]);
  c.text(W - 140, T + 7, 'SEMID (THIS RUN)');
  c.square(W - 150, T + 26, 4, [214, 39, 40]);
  c.text(W - 140, T + 23, 'PAPER');
  return c.png();
}

/**
 * Write report.md, figure1.svg, figure1.png and results.json into the run folder.
 * With `counterparts` (runStudy's: the other collision policy's results for the same units), a
 * table compares the two policies.
 * @example writeReport('runs/tiny', study.results, study.profile, study.manifest, study.timings, study.counterparts);
 */
export function writeReport(out: string, results: StrategyResult[], profile: StudyProfile, manifest: DatasetManifest, timings: Record<string, number>,
                            counterparts: StrategyResult[] = []): string {
  const strategies = aggregate(results.filter((r) => r.quantizer === 'rqkmeans'), (r) => r.strategy);
  const quantizers = aggregate(results.filter((r) => r.strategy === 'multitask'), (r) => r.quantizer);
  const ms = marks(strategies, 'multitask', 'perExampleSearch');
  const mr = marks(strategies, 'multitask', 'perExampleRec');
  const s = manifest.summary;
  const lines: string[] = [
    `# semid study report (${profile.name})`, '',
    `Data: ${manifest.source.synthetic ? 'SYNTHETIC catalogue (no MovieLens found)' : `${manifest.source.release} (${manifest.source.format})`}; ${s.users} users, ${s.items} items, ${s.interactions} interactions; queries: ${manifest.queries.source}.`,
    `Evaluated: ${results[0]?.search.length ?? 0} test queries (seeded sample), ${results[0]?.rec.length ?? 0} test users; constrained diverse beam search (${profile.eval.beams} beams, ${profile.eval.groups} groups, penalty ${profile.eval.penalty}); Recall@30.${profile.ids.collisions === 'dedup' ? ' IDs deduplicated (TIGER\'s extra level).' : ''}`,
    `Seeds: ${Math.max(...results.map((r) => r.seed)) + 1}. Marks: ▲ / ▼ = significantly above / below Multi-task (paired t-test on per-example Recall@30 (mean over seeds), Bonferroni over ${Math.max(0, strategies.size - 1)} comparisons, p < 0.05).`, '',
    '## Table 1: task-specific Semantic IDs', '', '| IDs from | search R@30 | rec R@30 | paper search | paper rec |', '| --- | ---: | ---: | ---: | ---: |',
  ];
  for (const k of ['content', 'search', 'rec']) {
    const r = strategies.get(k);
    if (r) lines.push(`| ${NAMES[k]} | ${fmt(r.search)}${ms.get(k) ?? ''} | ${fmt(r.rec)}${mr.get(k) ?? ''} | ${PAPER_RECALL30[k].search} | ${PAPER_RECALL30[k].rec} |`);
  }
  lines.push('', '## Table 2: all strategies (search; recommendation all / head / torso)', '',
    '| strategy | search R@30 | rec R@30 | rec head | rec torso | paper search | paper rec |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [k, r] of strategies) {
    lines.push(`| ${NAMES[k] ?? k} | ${fmt(r.search)}${ms.get(k) ?? ''} | ${fmt(r.rec)}${mr.get(k) ?? ''} | ${fmt(r.head)} | ${fmt(r.torso)} | ${PAPER_RECALL30[k]?.search ?? '-'} | ${PAPER_RECALL30[k]?.rec ?? '-'} |`);
  }
  if (quantizers.size > 1) {
    const qs = marks(quantizers, 'rqkmeans', 'perExampleSearch');
    const qr = marks(quantizers, 'rqkmeans', 'perExampleRec');
    lines.push('', '## Table 3: quantizers on Multi-task', '', `Marks: ▲ / ▼ = significantly above / below RQ-KMeans (paired t-test, Bonferroni over ${quantizers.size - 1} comparisons, p < 0.05).`, '',
      '| quantizer | search R@30 | rec R@30 | paper search | paper rec |', '| --- | ---: | ---: | ---: | ---: |');
    for (const [k, r] of quantizers) lines.push(`| ${k} | ${fmt(r.search)}${qs.get(k) ?? ''} | ${fmt(r.rec)}${qr.get(k) ?? ''} | ${PAPER_QUANTIZERS[k]?.search ?? '-'} | ${PAPER_QUANTIZERS[k]?.rec ?? '-'} |`);
  }
  lines.push('', '## Figure 1: search vs recommendation', '', '![Figure 1](figure1.svg)', '', '(also as figure1.png)', '', '## Dense retrieval with each embedding space', '',
    '| space | dim | search R@30 | rec R@30 | popularity rec R@30 |', '| --- | ---: | ---: | ---: | ---: |');
  for (const k of ['content', 'search', 'rec', 'multitask', 'fused-concat', 'fused-svd']) {
    const p = join(out, 'embeddings', `${k}.json`);
    if (!existsSync(p)) continue;
    const j = JSON.parse(readFileSync(p, 'utf8'));
    const f = (x: number | null) => (x === null || x === undefined ? '-' : x.toFixed(3));
    lines.push(`| ${k} | ${j.dim} | ${f(j.metrics?.searchRecall30)} | ${f(j.metrics?.recRecall30)} | ${f(j.metrics?.popularityRecall30)} |`);
  }
  const policy = profile.ids.collisions ?? 'keep';
  lines.push('', '## Collisions', '', ...(policy === 'dedup'
    ? ['IDs made unique by a dedup level (TIGER: one more token numbering the items that share an ID, its codes as many as the largest bucket); the table counts the collisions it told apart.', '']
    : []),
  '| strategy | namespace | distinct IDs | items in colliding IDs | largest bucket | rel. error |', '| --- | --- | ---: | ---: | ---: | --- |');
  for (const k of strategies.keys()) {
    const p = join(out, 'ids', `${k}-rqkmeans-${policy}.json`);
    if (!existsSync(p)) continue;
    const j = JSON.parse(readFileSync(p, 'utf8'));
    for (const ns of [j.search, ...(j.rec === 'same as search' ? [] : [j.rec])]) {
      const c = ns.collisionsBeforeDedup ?? ns.collisions;
      lines.push(`| ${NAMES[k] ?? k} | ${ns.name} | ${c.distinctIds} | ${c.itemsInCollidingIds} | ${c.largestBucket} | ${ns.quality ? ns.quality.relativeError.map((x: number) => x.toFixed(3)).join(' / ') : '-'} |`);
    }
  }
  if (counterparts.length > 0) lines.push(...policyComparison(results, counterparts, policy));
  const losses = results.filter((r) => r.trainLoss !== undefined);
  if (losses.length > 0) {
    lines.push('', '## T5 training loss (mean token cross-entropy of the last epoch)', '', '| run | loss |', '| --- | ---: |');
    for (const r of losses) lines.push(`| ${r.strategy}/${r.quantizer}/seed ${r.seed} | ${r.trainLoss!.toFixed(3)} |`);
  }
  lines.push('', '## Timings (seconds)', '', '| stage | seconds |', '| --- | ---: |');
  for (const [k, v] of Object.entries(timings)) lines.push(`| ${k} | ${v.toFixed(1)} |`);
  for (const r of results) for (const [k, v] of Object.entries(r.seconds)) lines.push(`| ${r.strategy}/${r.quantizer}/seed ${r.seed}: ${k} | ${v.toFixed(1)} |`);
  lines.push('', '## Settings', '', '```json', JSON.stringify({ profile, data: manifest.settings }, null, 2), '```', '',
    `Machine: ${os.cpus()[0]?.model?.trim() ?? 'unknown'}, ${os.cpus().length} cores, Node ${process.version}.`, '');
  writeFileAtomic(join(out, 'figure1.svg'), [Buffer.from(figureSvg(strategies))]);
  writeFileAtomic(join(out, 'figure1.png'), [figurePng(strategies)]);
  writeFileAtomic(join(out, 'results.json'), [Buffer.from(JSON.stringify({ profile: profile.name, collisions: policy, results }))]);
  const path = join(out, 'report.md');
  writeFileAtomic(path, [Buffer.from(lines.join('\n'))]);
  return path;
}
