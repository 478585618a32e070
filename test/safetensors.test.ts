// safetensors: byte layout against the specification, dtype conversions, round trips, files
// written by Hugging Face (../shared/fixtures), and damaged input.
import { describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSafetensors, floatToBf16, floatToHalf, initRuntime, loadT5Folder, readSafetensors, readSafetensorsFolder, writeSafetensors, type SafeTensor } from '../src/index.js';

const fixtures = join(__dirname, '..', '..', 'shared', 'fixtures');

describe('safetensors', () => {
  it('lays bytes out as the specification says', () => {
    const tensors = new Map<string, SafeTensor>([
      ['b', { dtype: 'I32', shape: [2], data: new Int32Array([7, -1]) }],
      ['a', { dtype: 'F32', shape: [1, 2], data: new Float32Array([1.5, -2]) }],
    ]);
    const bytes = Buffer.concat(encodeSafetensors(tensors, { step: '3' }));
    const n = Number(bytes.readBigUInt64LE(0));
    expect((8 + n) % 8).toBe(0);
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
    expect(header.__metadata__).toEqual({ step: '3' });
    expect(header.a).toEqual({ dtype: 'F32', shape: [1, 2], data_offsets: [0, 8] });
    expect(header.b).toEqual({ dtype: 'I32', shape: [2], data_offsets: [8, 16] });
    expect(bytes.length).toBe(8 + n + 16);
    expect(bytes.readFloatLE(8 + n)).toBe(1.5);
    expect(bytes.readInt32LE(8 + n + 12)).toBe(-1);
    expect(bytes.subarray(8, 8 + n).toString('utf8')).toMatch(/^\{.*\} *$/);
  });

  it('round-trips F32, F16, BF16, I32, I64, F64 and U8 through a file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'semid-st-'));
    const f = new Float32Array([0, 1, -2.5, 65504, 1e-3, 3.140625]);
    const tensors = new Map<string, SafeTensor>([
      ['f32', { dtype: 'F32', shape: [2, 3], data: f }],
      ['f16', { dtype: 'F16', shape: [6], data: f }],
      ['bf16', { dtype: 'BF16', shape: [6], data: f }],
      ['i64', { dtype: 'I64', shape: [2], data: new BigInt64Array([2n ** 40n, -3n]) }],
      ['f64', { dtype: 'F64', shape: [1], data: new Float64Array([Math.PI]) }],
      ['u8', { dtype: 'U8', shape: [3], data: new Uint8Array([0, 128, 255]) }],
      ['empty', { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) }],
    ]);
    writeSafetensors(join(dir, 'x.safetensors'), tensors, { note: 'hi' });
    const back = readSafetensors(join(dir, 'x.safetensors'));
    expect(back.metadata).toEqual({ note: 'hi' });
    expect(Array.from(back.tensors.get('f32')!.data as Float32Array)).toEqual(Array.from(f));
    const h = back.tensors.get('f16')!.data as Float32Array;
    expect(Array.from(h.slice(0, 4))).toEqual([0, 1, -2.5, 65504]);
    expect(Math.abs(h[4] - 1e-3)).toBeLessThan(1e-6);
    const bf = back.tensors.get('bf16')!.data as Float32Array;
    expect(bf[5]).toBe(3.140625);
    expect(Math.abs(bf[4] - 1e-3) / 1e-3).toBeLessThan(4e-3);
    expect(Array.from(back.tensors.get('i64')!.data as BigInt64Array)).toEqual([2n ** 40n, -3n]);
    expect((back.tensors.get('f64')!.data as Float64Array)[0]).toBe(Math.PI);
    expect(back.tensors.get('empty')!.shape).toEqual([0, 4]);
  });

  it('rounds to nearest even in F16 and BF16', () => {
    expect(floatToHalf(1)).toBe(0x3c00);
    expect(floatToHalf(65520)).toBe(0x7c00); // rounds up to infinity
    expect(floatToHalf(5.960464477539063e-8)).toBe(1); // smallest subnormal
    expect(floatToHalf(-0)).toBe(0x8000);
    expect(floatToBf16(1)).toBe(0x3f80);
    expect(floatToBf16(1.00390625)).toBe(0x3f80); // exactly halfway: to even
    expect(floatToBf16(1.01171875)).toBe(0x3f82); // halfway above odd: up
    expect(Number.isNaN(new Float32Array(new Uint32Array([floatToBf16(NaN) << 16]).buffer)[0])).toBe(true);
  });

  it.skipIf(!existsSync(join(fixtures, 't5-tiny', 'model.safetensors')))('reads the files Hugging Face wrote', () => {
    const { tensors } = readSafetensors(join(fixtures, 't5-tiny', 'model.safetensors'));
    const config = JSON.parse(readFileSync(join(fixtures, 't5-tiny', 'config.json'), 'utf8'));
    const shared = tensors.get('shared.weight')!;
    expect(shared.shape).toEqual([config.vocab_size, config.d_model]);
    expect((shared.data as Float32Array).every(Number.isFinite)).toBe(true);
    expect(tensors.has('lm_head.weight')).toBe(true);
    const bert = readSafetensors(join(fixtures, 'bert-tiny-st', 'model.safetensors'));
    expect([...bert.tensors.keys()].some((k) => k.includes('embeddings.word_embeddings.weight'))).toBe(true);
  });

  it.skipIf(process.platform === 'win32')('reads a file tensor by tensor, and a pipe whole, to the same tensors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'semid-st-pipe-'));
    const tensors = new Map<string, SafeTensor>([
      ['a', { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) }],
      ['b', { dtype: 'BF16', shape: [2], data: new Float32Array([0.5, -2]) }],
      ['c', { dtype: 'I64', shape: [0], data: new BigInt64Array(0) }],
    ]);
    writeSafetensors(join(dir, 'm.safetensors'), tensors);
    execFileSync('mkfifo', [join(dir, 'pipe')]);
    const writer = spawn('sh', ['-c', `cat ${join(dir, 'm.safetensors')} > ${join(dir, 'pipe')}`], { stdio: 'ignore', detached: true });
    try {
      for (const read of [readSafetensors(join(dir, 'm.safetensors')), readSafetensors(join(dir, 'pipe'))]) {
        expect(Array.from(read.tensors.get('a')!.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
        expect(Array.from(read.tensors.get('b')!.data as Float32Array)).toEqual([0.5, -2]);
        expect(read.tensors.get('c')!.shape).toEqual([0]);
      }
    } finally {
      writer.kill();
    }
    expect(() => readSafetensors(join(dir, 'missing.safetensors'))).toThrow(/missing\.safetensors: cannot be read \(ENOENT/);
  });

  it('reports damaged files', () => {
    expect(() => readSafetensors(new Uint8Array(4))).toThrow(/too short/);
    const bad = Buffer.alloc(16);
    bad.writeBigUInt64LE(1000n, 0);
    expect(() => readSafetensors(bad)).toThrow(/header length 1000 exceeds the file/);
    const ok = Buffer.concat(encodeSafetensors(new Map([['w', { dtype: 'F32', shape: [4], data: new Float32Array(4) }]])));
    expect(() => readSafetensors(ok.subarray(0, ok.length - 4))).toThrow(/"w" offsets \[0, 16\] do not fit/);
    expect(() => encodeSafetensors(new Map([['w', { dtype: 'F32', shape: [3], data: new Float32Array(4) }]]))).toThrow(/Expected 3 elements \(shape \[3\]\) for tensors\["w"\]\.data/);
  });

  it('checks every header entry as the safetensors library does, with an error that names it', () => {
    const file = (header: unknown, dataBytes = 16) => {
      const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      return Buffer.concat([len, json, Buffer.alloc(dataBytes)]);
    };
    const f32 = (shape: unknown, offsets: unknown) => ({ dtype: 'F32', shape, data_offsets: offsets });
    expect(readSafetensors(file({ a: f32([2], [0, 8]), b: f32([1, 2], [8, 16]) })).tensors.get('b')!.shape).toEqual([1, 2]);
    expect(() => readSafetensors(file('[1, 2]'))).toThrow(/header is not a JSON object/);
    expect(() => readSafetensors(file({ a: null }))).toThrow(/tensor "a" is null, not \{dtype, shape, data_offsets\}/);
    expect(() => readSafetensors(file({ a: { dtype: 'BOOL', shape: [16], data_offsets: [0, 16] } }))).toThrow(/tensor "a" has dtype "BOOL"; supported: F32/);
    expect(() => readSafetensors(file({ a: f32(undefined, [0, 16]) }))).toThrow(/tensor "a" has shape undefined, not an array of integers >= 0/);
    expect(() => readSafetensors(file({ a: f32([-1, -4], [0, 16]) }))).toThrow(/shape \[-1,-4\], not an array of integers >= 0/);
    expect(() => readSafetensors(file({ a: f32([0.5, 8], [0, 16]) }))).toThrow(/shape \[0.5,8\]/);
    expect(() => readSafetensors(file({ a: f32([4], [16, 0]) }))).toThrow(/data_offsets \[16,0\], not \[begin, end\] with 0 <= begin <= end/);
    expect(() => readSafetensors(file({ a: f32([4], undefined) }))).toThrow(/data_offsets undefined/);
    expect(() => readSafetensors(file({ a: f32([2], [0, 8]), b: f32([2], [4, 12]) }))).toThrow(/tensor "b" starts at byte 4 of the data, where 8 was expected/);
    expect(() => readSafetensors(file({ a: f32([2], [8, 16]) }))).toThrow(/tensor "a" starts at byte 8 of the data, where 0 was expected/);
    expect(() => readSafetensors(file({ a: f32([2], [0, 8]) }))).toThrow(/the tensors end at byte \d+, the file has \d+ bytes/);
    expect(() => readSafetensors(file({ __metadata__: { step: 10 } }, 0))).toThrow(/__metadata__ is not an object of string values/);
    expect(() => encodeSafetensors(new Map([['w', { dtype: 'F32', shape: [-2, -2], data: new Float32Array(4) }]]))).toThrow(/tensors\["w"\]\.shape/);
  });

  it.skipIf(!existsSync(join(fixtures, 't5-tiny')))('reads sharded weights (model.safetensors.index.json) as the single file', async () => {
    await initRuntime({ backend: 'wasm' });
    const src = join(fixtures, 't5-tiny');
    const whole = readSafetensors(join(src, 'model.safetensors')).tensors;
    const dir = mkdtempSync(join(tmpdir(), 'semid-shards-'));
    for (const f of ['config.json', 'tokenizer.json']) copyFileSync(join(src, f), join(dir, f));
    const names = [...whole.keys()];
    const shardOf = (i: number) => `model-0000${i % 3 + 1}-of-00003.safetensors`;
    for (let s = 0; s < 3; s++) writeSafetensors(join(dir, shardOf(s)), new Map(names.filter((_, i) => i % 3 === s).map((n) => [n, whole.get(n)!])));
    const index = { metadata: { total_size: 0 }, weight_map: Object.fromEntries(names.map((n, i) => [n, shardOf(i)])) };
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
    const read = readSafetensorsFolder(dir);
    expect(read.files).toHaveLength(3);
    expect([...read.tensors.keys()].sort()).toEqual(names.sort());
    for (const n of names) expect(Array.from(read.tensors.get(n)!.data as Float32Array)).toEqual(Array.from(whole.get(n)!.data as Float32Array));
    const a = loadT5Folder(src).model.toTensors(), b = loadT5Folder(dir).model.toTensors();
    for (const [n, t] of a) expect(Array.from(b.get(n)!.data as Float32Array)).toEqual(Array.from(t.data as Float32Array));
    // an index naming a tensor its shard lacks, or a missing shard, says which
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { ...index.weight_map, 'extra.weight': shardOf(0) } }));
    expect(() => readSafetensorsFolder(dir)).toThrow(/tensor "extra.weight" is not in .*model-00001-of-00003\.safetensors, where .*index\.json says it is/);
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { ...index.weight_map, 'extra.weight': 'model-00009-of-00009.safetensors' } }));
    expect(() => readSafetensorsFolder(dir)).toThrow(/model-00009-of-00009\.safetensors is missing \(named by/);
    expect(() => readSafetensorsFolder(mkdtempSync(join(tmpdir(), 'semid-empty-')))).toThrow(/holds neither model\.safetensors nor model\.safetensors\.index\.json/);
  });
});
