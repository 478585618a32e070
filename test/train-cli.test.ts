// `semid train` end to end on a catalogue of our own: codes from a .npy, (query, item) and (history,
// item) pairs in JSONL, a tiny T5 trained from scratch, then `semid search --model` finds each
// query's item first and `semid recommend --model` each history's next item; the
// same command resumes from its checkpoint; bad input is named before anything is written.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeNpy } from '../src/index.js';

const root = join(__dirname, '..');
const bin = join(root, 'bin', 'semid.js');
const built = existsSync(join(root, 'dist', 'cli', 'main.js'));  // the CLI runs the build (npm install makes it)
const semid = (args: string[], cwd: string) => spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8' });

describe.skipIf(!built)('semid train', () => {
  it('trains on (query, item) pairs, then semid search --model finds each item; resumes; names bad input', () => {
    const dir = mkdtempSync(join(tmpdir(), 'semid-train-'));
    writeNpy(join(dir, 'codes.npy'), Int32Array.from([0, 1, 0, 2, 1, 0, 1, 3, 2, 2, 3, 1]), [6, 2]);
    const queries = [['funny dog movie', 'a comedy with a dog'], ['space robots', 'robots in space'], ['scary house', 'a haunted house'],
      ['love in paris', 'romance in paris'], ['war at sea', 'naval battle'], ['cowboy duel', 'a western showdown']];
    // search pairs, and recommendation pairs (item k follows k+4 and k+5), with a byte order mark
    // and CRLF line ends, as spreadsheet tools on Windows write them
    const lines = queries.flatMap((qs, item) => qs.map((query) => JSON.stringify({ query, item })));
    for (let k = 0; k < 6; k++) lines.push(JSON.stringify({ history: [(k + 4) % 6, (k + 5) % 6], item: k }), JSON.stringify({ history: [(k + 5) % 6], item: k }));
    writeFileSync(join(dir, 'pairs.jsonl'), '\uFEFF' + lines.join('\r\n') + '\r\n');
    const args = ['train', '--pairs', 'pairs.jsonl', '--ids', 'codes.npy', '--out', 'model', '--preset', 'tiny', '--epochs', '150', '--batch', '24', '--lr', '1e-2', '--vocab', '200', '--prompt', 'search: {query}'];
    const trained = semid(args, dir);
    expect(trained.status, trained.stderr).toBe(0);
    expect(trained.stderr).toMatch(/24 pairs, 8 ID tokens/);
    expect(trained.stdout).toMatch(/model \(150 steps, last epoch's loss 0\.0\d+\)/);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'generation_config.json']) expect(existsSync(join(dir, 'model', f)), f).toBe(true);
    const asked = semid(['search', ...queries.map((qs) => qs[1]), '--model', 'model', '--ids', 'codes.npy', '--prompt', 'search: {query}', '--beams', '4', '--groups', '2', '--top', '1', '--json'], dir);
    expect(asked.status, asked.stderr).toBe(0);
    expect(JSON.parse(asked.stdout).map((r: { answers: Array<{ item: number }> }) => r.answers[0].item)).toEqual([0, 1, 2, 3, 4, 5]);
    for (let k = 0; k < 6; k++) {
      const rec = semid(['recommend', '--items', `${(k + 4) % 6},${(k + 5) % 6}`, '--model', 'model', '--ids', 'codes.npy', '--history-prompt', 'recommend: {history}', '--beams', '4', '--groups', '2', '--top', '1', '--json'], dir);
      expect(rec.status, rec.stderr).toBe(0);
      expect(JSON.parse(rec.stdout)[0].answers[0].item, `after ${(k + 4) % 6}, ${(k + 5) % 6}`).toBe(k);
    }
    expect(semid(['recommend', '--items', '1', '--model', 'model', '--ids', 'codes.npy'], dir).stderr).toMatch(/for --history-prompt but received undefined/);
    const again = semid(args, dir);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/150 steps, resumed from .*checkpoint-00000150\.safetensors/);

    // --holdout: a seeded quarter of the pairs kept out, and the search's recall on them reported
    const held = semid([...args.map((a) => (a === 'model' ? 'held' : a)), '--holdout', '0.25', '--epochs', '20'], dir);
    expect(held.status, held.stderr).toBe(0);
    expect(held.stderr).toMatch(/18 pairs \(6 more held out\)/);
    const report = JSON.parse(readFileSync(join(dir, 'held', 'eval.json'), 'utf8'));
    expect(report).toMatchObject({ heldOut: 6, decoding: { beams: 60, groups: 30, diversityPenalty: 0.25 } });
    expect(report.recall10).toBeGreaterThanOrEqual(0);
    expect(report.recall30).toBeGreaterThanOrEqual(report.recall10);
    expect(report.recall30).toBeLessThanOrEqual(1);
    expect(held.stdout).toMatch(/held-out pairs \(6\): Recall@10 [01]\.\d{4}, Recall@30 [01]\.\d{4}/);
    expect(semid([...args, '--holdout', '1'], dir).stderr).toMatch(/a fraction below 1 .* for --holdout/);

    writeFileSync(join(dir, 'bad.jsonl'), '{"query": "a", "item": 9}\n');
    expect(semid(['train', '--pairs', 'bad.jsonl', '--ids', 'codes.npy', '--out', 'bad'], dir).stderr).toMatch(/bad\.jsonl line 1: "item" must be a row of --ids \(0\.\.5\), got 9/);
    expect(semid(['train', '--pairs', 'pairs.jsonl', '--out', 'bad'], dir).stderr).toMatch(/pairs\.jsonl line 1 names item 0: give the items' IDs with --ids/);
    expect(semid(['train', '--pairs', 'pairs.jsonl', '--ids', 'codes.npy', '--out', 'bad', '--prompt', 'search:'], dir).stderr).toMatch(/holding \{query\}.* for --prompt/);
    expect(semid(['train', '--pairs', 'pairs.jsonl', '--ids', 'codes.npy', '--out', 'bad', '--from', 'model', '--preset', 'tiny'], dir).stderr).toMatch(/either --from .* or --preset/);
    writeNpy(join(dir, 'float-codes.npy'), new Float32Array([0, 1, 2, 3.5]), [2, 2]);
    expect(semid(['train', '--pairs', 'pairs.jsonl', '--ids', 'float-codes.npy', '--out', 'bad'], dir).stderr).toMatch(/non-negative integers \(.*float-codes\.npy\) for --ids but received "3\.5 at row 1, level 1"/);
    expect(existsSync(join(dir, 'bad'))).toBe(false);
  });
});
