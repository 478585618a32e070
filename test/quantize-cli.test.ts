import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readNpy, writeNpy } from '../src/index.js';
import { randomFloats } from './helpers.js';

const bin = fileURLToPath(new URL('../bin/semid.js', import.meta.url));
const built = existsSync(fileURLToPath(new URL('../dist/cli/main.js', import.meta.url)));
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
const dir = join(tmpdir(), `semid-cli-${process.pid}`);

describe.skipIf(!built)('semid quantize', () => {
  it('trains, writes codes and codebooks, prints statistics; then encodes new items with the codebooks', () => {
    spawnSync('mkdir', ['-p', dir]);
    writeNpy(`${dir}/emb.npy`, randomFloats(3000 * 16, 1), [3000, 16]);
    const r = run('quantize', `${dir}/emb.npy`, '--levels', '3', '--codebook', '32', '--seed', '7', '--out', `${dir}/codes.npy`);
    expect(r.status, r.stderr).toBe(0);
    for (const key of ['relative error after level 3', 'usage / perplexity', 'distinct IDs', 'items in colliding IDs', 'largest bucket']) expect(r.stdout).toContain(key);
    const codes = readNpy(`${dir}/codes.npy`);
    expect(codes.shape).toEqual([3000, 3]);
    expect(codes.data).toBeInstanceOf(Uint16Array);
    expect(readNpy(`${dir}/codes.codebooks.npy`).shape).toEqual([3, 32, 16]);

    writeNpy(`${dir}/new.npy`, randomFloats(100 * 16, 2), [100, 16]);
    const r2 = run('quantize', '--codebooks', `${dir}/codes.codebooks.npy`, `${dir}/new.npy`, '--out', `${dir}/new-codes.npy`, '--dtype', 'uint32', '--json');
    expect(r2.status, r2.stderr).toBe(0);
    expect(JSON.parse(r2.stdout).n).toBe(100);
    expect(readNpy(`${dir}/new-codes.npy`).data).toBeInstanceOf(Uint32Array);
  });

  it('the other quantizers: trains one, saves it beside the codes, and encodes new items with it to the same codes', () => {
    spawnSync('mkdir', ['-p', dir]);
    writeNpy(`${dir}/peer.npy`, randomFloats(600 * 8, 4), [600, 8]);
    writeNpy(`${dir}/peer-new.npy`, randomFloats(600 * 8, 4).subarray(0, 40 * 8), [40, 8]);  // its first 40 rows
    for (const q of ['rlfq', 'dictionary']) {
      const r = run('quantize', `${dir}/peer.npy`, '--quantizer', q, '--levels', '2', '--codebook', '8', '--iters', '2', '--out', `${dir}/${q}/codes.npy`);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`quantizer, levels x codebook +${q}, 2 x 8`));
      const codes = readNpy(`${dir}/${q}/codes.npy`);
      expect(codes.shape).toEqual([600, 2]);
      const again = run('quantize', '--quantizer-file', `${dir}/${q}/codes.quantizer.json`, `${dir}/peer-new.npy`, '--out', `${dir}/${q}/new.npy`, '--json');
      expect(again.status, again.stderr).toBe(0);
      expect(JSON.parse(again.stdout).quantizer).toBe(q);
      expect(Array.from(readNpy(`${dir}/${q}/new.npy`).data)).toEqual(Array.from(codes.data.subarray(0, 80)));
    }
    const mixed = run('quantize', `${dir}/peer.npy`, '--quantizer', 'rlfq', '--codebooks', `${dir}/codes.codebooks.npy`);
    expect(mixed.status).toBe(1);
    expect(mixed.stderr).toMatch(/no --codebooks with --quantizer rlfq \(RQ-KMeans only\)/);
    const unknown = run('quantize', `${dir}/peer.npy`, '--quantizer', 'pq');
    expect(unknown.stderr).toMatch(/Expected rqkmeans, dictionary, rlfq, rqvae for --quantizer but received "pq"/);
  });

  it('clear errors: missing file, codebook larger than the data, dimension mismatch', () => {
    const missing = run('quantize', `${dir}/nope.npy`);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/nope\.npy: no such file/);
    writeNpy(`${dir}/small.npy`, randomFloats(50 * 4, 3), [50, 4]);
    const big = run('quantize', `${dir}/small.npy`, '--codebook', '256');
    expect(big.stderr).toMatch(/no larger than the 50 training rows for --codebook but received 256/);
    const mismatch = run('quantize', '--codebooks', `${dir}/codes.codebooks.npy`, `${dir}/small.npy`);
    expect(mismatch.status).toBe(1);
    expect(mismatch.stderr).toMatch(/rows of dimension 16/);
    expect(run('quantize').status).toBe(2);
    expect(run('quantize', `${dir}/small.npy`, '--codebook', '1').stderr).toMatch(/for --codebook but received 1/);
    expect(run('quantize', `${dir}/small.npy`, '--tol', 'abc').stderr).toMatch(/Expected a number for --tol but received "abc"/);
    expect(run('quantize', `${dir}/small.npy`, '--max-train', '0.5').stderr).toMatch(/an integer for --max-train/);
    expect(run('quantize', `${dir}/small.npy`, '--codebook', '300', '--dtype', 'uint8').stderr).toMatch(/uint8 holds codes below 256; --codebook is 300\) for --dtype/);
    expect(run('quantize', '--codebooks', `${dir}/codes.codebooks.npy`, `${dir}/new.npy`, '--dtype', 'int8').stderr).toMatch(/"uint16", "uint32" or "uint8" for --dtype but received "int8"/);
  });

  it('writes uint8 codes into a folder it makes, and they equal the uint16 ones', () => {
    writeNpy(`${dir}/u8.npy`, randomFloats(400 * 8, 4), [400, 8]);
    const a = run('quantize', `${dir}/u8.npy`, '--levels', '2', '--codebook', '16', '--out', `${dir}/made/here/u8-codes.npy`, '--dtype', 'uint8');
    expect(a.status, a.stderr).toBe(0);
    const b = run('quantize', `${dir}/u8.npy`, '--levels', '2', '--codebook', '16', '--out', `${dir}/u16-codes.npy`);
    expect(b.status, b.stderr).toBe(0);
    const u8 = readNpy(`${dir}/made/here/u8-codes.npy`);
    expect(u8.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(u8.data)).toEqual(Array.from(readNpy(`${dir}/u16-codes.npy`).data));
    expect(readNpy(`${dir}/made/here/u8-codes.codebooks.npy`).shape).toEqual([2, 16, 8]);
  });

  it('--chunk-rows reads the file a chunk at a time: the same codes and codebooks as in memory', () => {
    writeNpy(`${dir}/chunked.npy`, randomFloats(1200 * 8, 5), [1200, 8]);
    const whole = run('quantize', `${dir}/chunked.npy`, '--levels', '2', '--codebook', '16', '--out', `${dir}/whole.npy`, '--json');
    expect(whole.status, whole.stderr).toBe(0);
    const chunked = run('quantize', `${dir}/chunked.npy`, '--levels', '2', '--codebook', '16', '--out', `${dir}/chunked-codes.npy`, '--chunk-rows', '500', '--max-train', '1200', '--json');
    expect(chunked.status, chunked.stderr).toBe(0);
    expect(chunked.stderr).toMatch(/trained on a sample of 1,200 of 1,200 rows/);
    expect(Array.from(readNpy(`${dir}/chunked-codes.npy`).data)).toEqual(Array.from(readNpy(`${dir}/whole.npy`).data));
    expect(Array.from(readNpy(`${dir}/chunked-codes.codebooks.npy`).data)).toEqual(Array.from(readNpy(`${dir}/whole.codebooks.npy`).data));
    expect(JSON.parse(chunked.stdout).distinctIds).toBe(JSON.parse(whole.stdout).distinctIds);
    const cold = run('quantize', '--codebooks', `${dir}/whole.codebooks.npy`, `${dir}/chunked.npy`, '--chunk-rows', '333', '--out', `${dir}/cold.npy`);
    expect(cold.status, cold.stderr).toBe(0);
    expect(Array.from(readNpy(`${dir}/cold.npy`).data)).toEqual(Array.from(readNpy(`${dir}/whole.npy`).data));
    expect(run('quantize', `${dir}/chunked.npy`, '--chunk-rows=-1').stderr).toMatch(/a non-negative integer for --chunk-rows/);
    const inMemory = run('quantize', `${dir}/chunked.npy`, '--levels', '2', '--codebook', '16', '--out', `${dir}/in-memory.npy`, '--chunk-rows', '0');
    expect(inMemory.stderr).not.toMatch(/trained on a sample/);
    expect(Array.from(readNpy(`${dir}/in-memory.npy`).data)).toEqual(Array.from(readNpy(`${dir}/whole.npy`).data));
  });
  it('--dedup appends a level numbering the items that share an ID; --dedup-after continues a catalogue\'s numbers for new items', () => {
    writeNpy(`${dir}/dup.npy`, randomFloats(600 * 8, 9), [600, 8]);
    const plain = run('quantize', `${dir}/dup.npy`, '--levels', '2', '--codebook', '4', '--seed', '3', '--out', `${dir}/dup-plain.npy`, '--json');
    expect(plain.status, plain.stderr).toBe(0);
    const r = run('quantize', `${dir}/dup.npy`, '--levels', '2', '--codebook', '4', '--seed', '3', '--out', `${dir}/dup-codes.npy`, '--dedup');
    expect(r.status, r.stderr).toBe(0);
    const before = JSON.parse(plain.stdout) as { largestBucket: number; distinctIds: number };
    expect(r.stdout).toMatch(new RegExp(`dedup level +${before.largestBucket} codes \\(${before.distinctIds} shared IDs told apart`));
    expect(r.stdout).toMatch(/dup-codes\.npy \(uint16, 3 levels\)/);
    const codes = readNpy(`${dir}/dup-codes.npy`);
    expect(codes.shape).toEqual([600, 3]);
    const flat = readNpy(`${dir}/dup-plain.npy`).data;
    const rows = Array.from({ length: 600 }, (_, i) => Array.from(codes.data.subarray(i * 3, i * 3 + 3) as Uint16Array));
    rows.forEach((row, i) => expect(row.slice(0, 2)).toEqual([flat[i * 2], flat[i * 2 + 1]]));
    expect(new Set(rows.map((x) => x.join(','))).size).toBe(600);
    // new items encoded with the codebooks, numbered after the catalogue's items of their ID
    writeNpy(`${dir}/dup-new.npy`, randomFloats(50 * 8, 10), [50, 8]);
    const cold = run('quantize', '--codebooks', `${dir}/dup-codes.codebooks.npy`, `${dir}/dup-new.npy`, '--out', `${dir}/dup-new-codes.npy`, '--dedup-after', `${dir}/dup-codes.npy`, '--json');
    expect(cold.status, cold.stderr).toBe(0);
    expect(JSON.parse(cold.stdout)).toMatchObject({ levels: 3, dtype: 'uint16' });
    const fresh = readNpy(`${dir}/dup-new-codes.npy`);
    const all = [...rows, ...Array.from({ length: 50 }, (_, i) => Array.from(fresh.data.subarray(i * 3, i * 3 + 3) as Uint16Array))];
    expect(new Set(all.map((x) => x.join(','))).size).toBe(650);
    // the other quantizers take it too
    const peer = run('quantize', `${dir}/dup.npy`, '--quantizer', 'rlfq', '--levels', '1', '--codebook', '4', '--out', `${dir}/dup-rlfq.npy`, '--dedup', '--json');
    expect(peer.status, peer.stderr).toBe(0);
    expect(JSON.parse(peer.stdout).dedup.suffixSize).toBeGreaterThan(100);
    expect(readNpy(`${dir}/dup-rlfq.npy`).shape).toEqual([600, 2]);
    // numbers beyond the --dtype asked for, a catalogue of the wrong shape, or no quantizer to continue with
    expect(run('quantize', `${dir}/dup.npy`, '--levels', '1', '--codebook', '2', '--out', `${dir}/dup-u8.npy`, '--dedup', '--dtype', 'uint8').stderr)
      .toMatch(/Expected a type that holds code \d+ \(a dedup number\): "uint16" or "uint32" for --dtype but received "uint8"/);
    expect(run('quantize', '--codebooks', `${dir}/dup-codes.codebooks.npy`, `${dir}/dup-new.npy`, '--out', `${dir}/x.npy`, '--dedup-after', `${dir}/dup-plain.npy`).stderr)
      .toMatch(/codes of 3 columns .* for --dedup-after but received "shape \[600, 2\]"/);
    expect(run('quantize', `${dir}/dup-new.npy`, '--dedup-after', `${dir}/dup-codes.npy`).stderr).toMatch(/--codebooks or --quantizer-file too/);
    expect(run('quantize', '--codebooks', `${dir}/dup-codes.codebooks.npy`, `${dir}/dup-new.npy`, '--out', `${dir}/x.npy`, '--dedup').stderr).toMatch(/numbers these items among themselves; .* --dedup-after/);
    expect(run('quantize', '--codebooks', `${dir}/dup-codes.codebooks.npy`, `${dir}/dup-new.npy`, '--dedup-after', `${dir}/none.npy`).stderr).toMatch(/an existing codes \.npy written with --dedup for --dedup-after/);
  });
});
