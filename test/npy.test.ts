import { describe, expect, it } from 'vitest';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytePieces, readAt } from '../src/io/read-at.js';
import { execFileSync, spawn } from 'node:child_process';
import { encodeNpy, readNpy, readNpyMatrix, writeNpy } from '../src/index.js';
import { halfToFloat } from '../src/data/npy.js';

import { rawNpy } from './helpers.js';

const tmp = (name: string) => join(tmpdir(), `semid-npy-${process.pid}-${name}`);
const concat = (parts: Uint8Array[]) => Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));

describe('.npy read and write', () => {
  it('round-trips every written dtype', () => {
    for (const data of [new Float32Array([1.5, -2, 3, 4, 5, 6]), new Float64Array([1, 2, 3, 4, 5, 6.25]), new Uint16Array([1, 2, 3, 65535, 5, 6]), new Uint32Array([1, 2, 3, 4, 5, 2 ** 32 - 1]), new Int32Array([-1, 2, 3, 4, 5, 6])]) {
      const path = tmp(data.constructor.name);
      writeNpy(path, data, [2, 3]);
      const arr = readNpy(path);
      expect(arr.shape).toEqual([2, 3]);
      expect(Array.from(arr.data as ArrayLike<number>)).toEqual(Array.from(data));
      const bytes = readFileSync(path);
      expect((10 + bytes.readUInt16LE(8)) % 64).toBe(0); // header padded to 64 bytes as NumPy does
    }
  });
  it('reads float16, Fortran order, big-endian and format version 2', () => {
    const half = new Uint16Array([0x3c00, 0xc000, 0x3555, 0x0001]); // 1, -2, ~0.333, smallest subnormal
    const f16 = readNpyMatrix(rawNpy('<f2', '(2, 2)', new Uint8Array(half.buffer)));
    expect(f16.data[0]).toBe(1);
    expect(f16.data[1]).toBe(-2);
    expect(f16.data[2]).toBeCloseTo(0.33325, 4);
    expect(f16.data[3]).toBe(halfToFloat(1));
    const fortran = readNpy(rawNpy('<f4', '(2, 3)', new Uint8Array(new Float32Array([1, 4, 2, 5, 3, 6]).buffer), true));
    expect(Array.from(fortran.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
    const be = Buffer.alloc(8);
    be.writeFloatBE(1.5, 0);
    be.writeFloatBE(-3, 4);
    expect(Array.from(readNpy(rawNpy('>f4', '(2,)', be)).data as Float32Array)).toEqual([1.5, -3]);
    const v2 = readNpy(rawNpy('<u2', '(3,)', new Uint8Array(new Uint16Array([7, 8, 9]).buffer), false, 2));
    expect(Array.from(v2.data as Uint16Array)).toEqual([7, 8, 9]);
    const f64 = readNpyMatrix(concat(encodeNpy(new Float64Array([1, 2, 3, 4]), [2, 2])));
    expect(f64.data).toBeInstanceOf(Float32Array);
    expect(f64.cols).toBe(2);
  });

  it.skipIf(process.platform === 'win32')('reads from a pipe, whose size is unknown up front', () => {
    const fifo = tmp('fifo');
    const source = tmp('fifo-source');
    writeNpy(source, new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    execFileSync('sh', ['-c', `rm -f ${fifo} && mkfifo ${fifo}`]);
    const writer = spawn('sh', ['-c', `cat ${source} > ${fifo}`], { stdio: 'ignore', detached: true });
    try {
      const arr = readNpy(fifo);
      expect(arr.shape).toEqual([2, 3]);
      expect(Array.from(arr.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
    } finally {
      writer.kill();
    }
  });

  it('reads a file as it reads its bytes: every layout, straight into the array or through a decode', () => {
    const be = Buffer.alloc(8);
    be.writeFloatBE(1.5, 0);
    be.writeFloatBE(-3, 4);
    const files = [
      rawNpy('<f4', '(2, 3)', new Uint8Array(new Float32Array([1, 4, 2, 5, 3, 6]).buffer), true),  // Fortran: decoded
      rawNpy('>f4', '(2,)', be),  // big-endian: decoded
      rawNpy('<f2', '(2,)', new Uint8Array(new Uint16Array([0x3c00, 0xc000]).buffer)),  // float16: decoded
      rawNpy('<i8', '(2,)', new Uint8Array(new BigInt64Array([5n, -7n]).buffer), false, 2),  // read in place
      rawNpy('<f4', '(2, 0)', new Uint8Array(0)),  // empty
      rawNpy('<u1', '()', new Uint8Array([9])),  // 0-d
    ];
    files.forEach((bytes, i) => {
      writeFileSync(tmp(`layout-${i}`), bytes);
      const fromFile = readNpy(tmp(`layout-${i}`));
      const fromBytes = readNpy(bytes);
      expect(fromFile.shape).toEqual(fromBytes.shape);
      expect(fromFile.dtype).toBe(fromBytes.dtype);
      expect(Array.from(fromFile.data as ArrayLike<number>, Number)).toEqual(Array.from(fromBytes.data as ArrayLike<number>, Number));
    });
  });
  it('reads and writes typed arrays in pieces (no Uint8Array spans more than 4 GiB): offsets and lengths add up', () => {
    const data = Float64Array.from({ length: 1001 }, (_, i) => i * 1.5 - 7);
    const view = new Float32Array(data.buffer, 8, 1999);  // not at the buffer's start
    for (const piece of [1, 3, 7, 4096, 1 << 30]) {
      const parts = bytePieces(view, piece);
      expect(parts.reduce((n, p) => n + p.byteLength, 0)).toBe(view.byteLength);
      expect(Buffer.concat(parts)).toEqual(Buffer.from(view.buffer, view.byteOffset, view.byteLength));
      const path = tmp(`pieces-${piece}`);
      writeFileSync(path, Buffer.concat(parts));
      const fd = openSync(path, 'r');
      const back = new Float32Array(new ArrayBuffer(4 + view.byteLength), 4, 1999);
      expect(readAt(fd, back, 0, piece)).toBe(view.byteLength);
      expect(readAt(fd, new Uint8Array(10), view.byteLength - 4, piece)).toBe(4);  // the file ends first
      closeSync(fd);
      expect(Array.from(back)).toEqual(Array.from(view));
    }
  });

  it('names the file and the problem for bad input', () => {
    expect(() => readNpy('/nonexistent/x.npy')).toThrow(/\/nonexistent\/x\.npy: no such file/);
    writeFileSync(tmp('empty'), '');
    expect(() => readNpy(tmp('empty'))).toThrow(/the file is empty/);
    writeFileSync(tmp('text'), 'hello world, not numpy');
    expect(() => readNpy(tmp('text'))).toThrow(/not a \.npy file/);
    const good = rawNpy('<f4', '(4, 2)', new Uint8Array(32));
    writeFileSync(tmp('trunc-header'), good.subarray(0, 40));
    expect(() => readNpy(tmp('trunc-header'))).toThrow(/truncated header/);
    writeFileSync(tmp('trunc-data'), good.subarray(0, good.length - 4));
    expect(() => readNpy(tmp('trunc-data'))).toThrow(/truncated data: shape \(4, 2\) of f4 needs 32 bytes, the file has 28/);
    expect(() => readNpy(rawNpy('<c8', '(1,)', new Uint8Array(8)))).toThrow(/unsupported dtype '<c8'/);
    expect(() => readNpyMatrix(rawNpy('<f4', '(4,)', new Uint8Array(16)), 'vec.npy')).toThrow(/vec\.npy: expected a 2-D array \(rows x dim\), got shape \(4\)/);
    expect(() => encodeNpy(new Float32Array(5), [2, 3])).toThrow(/has 6 elements but data has 5/);
  });
});
