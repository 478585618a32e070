// `semid data prepare` end to end through the CLI, on an ML-1M style folder written here.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/semid.js', import.meta.url));
const built = existsSync(fileURLToPath(new URL('../dist/cli/data.js', import.meta.url)));
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, SEMID_DATA: '' } });

describe.skipIf(!built)('semid data', () => {
  it('prepare writes the data set, prints the counts, and reuses a finished one', () => {
    const ml = mkdtempSync(join(tmpdir(), 'semid-ml1m-'));
    const movies = Array.from({ length: 40 }, (_, i) => `${i + 1}::Movie Number ${i + 1} (${1960 + i})::${i % 2 ? 'Comedy' : 'Drama|Romance'}`);
    writeFileSync(join(ml, 'movies.dat'), movies.join('\n') + '\n');
    const ratings: string[] = [];
    for (let u = 1; u <= 12; u++) for (let k = 0; k < 8; k++) ratings.push(`${u}::${((u * 7 + k * 3) % 40) + 1}::${1 + (k % 5)}::${1000 + u * 100 + k}`);
    writeFileSync(join(ml, 'ratings.dat'), ratings.join('\n') + '\n');
    const out = mkdtempSync(join(tmpdir(), 'semid-run-'));
    const r = run('data', 'prepare', '--movielens', ml, '--out', out, '--max-history', '4');
    expect(r.stderr).toBe(r.stderr); // progress goes to stderr
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/users\s+12/);
    expect(r.stdout).toMatch(/rec train \/ validation \/ test\s+60 \/ 12 \/ 12/);
    expect(existsSync(join(out, 'data', 'manifest.json'))).toBe(true);
    const again = run('data', 'prepare', '--movielens', ml, '--out', out, '--max-history', '4', '--json');
    expect(again.stderr).toMatch(/already holds this data set/);
    expect(JSON.parse(again.stdout).summary.users).toBe(12);
  });

  it('bad options and missing data get clear errors', () => {
    const out = mkdtempSync(join(tmpdir(), 'semid-run-'));
    expect(run('data', 'prepare').stderr).toMatch(/Expected a run folder for --out/);
    expect(run('data', 'prepare', '--out', out, '--movielens', join(out, 'none')).stderr).toMatch(/none: does not exist \(given by --movielens\)/);
    expect(run('data', 'prepare', '--out', out, '--max-history', 'ten').stderr).toMatch(/Expected a number for --max-history but received "ten"/);
    // options are checked before the ratings are read, and errors name the flag
    const fraction = run('data', 'prepare', '--out', out, '--head-fraction', '2');
    expect(fraction.stderr).toMatch(/Expected number between 0 and 1 for --head-fraction but received 2/);
    expect(fraction.stderr).not.toMatch(/ratings|reading MovieLens/);
    expect(run('data', 'prepare', '--out', out, '--search-validation', '1.5').stderr).toMatch(/for --search-validation but received 1.5/);
    expect(run('data', 'prepare', '--out', out, '--catalogue', 'some').stderr).toMatch(/for --catalogue but received "some"/);
    expect(run('data', 'prepare', '--out', out, '--queries', 'llm').stderr).toMatch(/--llm-endpoint URL and --llm-model NAME/);
    const dl = run('data', 'download', 'ml-9m');
    expect(dl.status).toBe(1);
    expect(dl.stderr).toMatch(/Expected one of ml-latest-small/);
    expect(dl.stderr).not.toMatch(/\n\s+at /);
  });
});
