import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { crc32, unzip } from '../src/index.js';

interface ZipOptions {
  comment?: Buffer;
  /** Write sizes and offsets as 0xffffffff with a Zip64 extra field, and a Zip64 end record. */
  zip64?: boolean;
  /** Mark names as UTF-8 (flag bit 11). */
  utf8?: boolean;
}

/** A zip archive written by hand, the way zip tools lay one out (local headers, central directory, end record). */
function makeZip(files: Array<[string, Buffer]>, o: ZipOptions = {}): Buffer {
  const parts: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  files.forEach(([name, data], i) => {
    const method = i % 2 ? 0 : 8;
    const body = method === 8 ? deflateRawSync(data) : data;
    const nameBuf = Buffer.from(name, o.utf8 === false ? 'latin1' : 'utf8');
    const flags = o.utf8 === false ? 0 : 0x800;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0); local.writeUInt16LE(45, 4); local.writeUInt16LE(flags, 6); local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc32(data), 14); local.writeUInt32LE(body.length, 18); local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBuf.length, 26);
    const extra = Buffer.alloc(o.zip64 ? 28 : 0);
    if (o.zip64) {
      extra.writeUInt16LE(1, 0); extra.writeUInt16LE(24, 2);
      extra.writeBigUInt64LE(BigInt(data.length), 4); extra.writeBigUInt64LE(BigInt(body.length), 12); extra.writeBigUInt64LE(BigInt(offset), 20);
    }
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0); central.writeUInt16LE(45, 4); central.writeUInt16LE(45, 6); central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(method, 10); central.writeUInt32LE(crc32(data), 16);
    central.writeUInt32LE(o.zip64 ? 0xffffffff : body.length, 20); central.writeUInt32LE(o.zip64 ? 0xffffffff : data.length, 24);
    central.writeUInt16LE(nameBuf.length, 28); central.writeUInt16LE(extra.length, 30); central.writeUInt32LE(o.zip64 ? 0xffffffff : offset, 42);
    parts.push(local, nameBuf, body);
    centrals.push(central, nameBuf, extra);
    offset += 30 + nameBuf.length + body.length;
  });
  const cd = Buffer.concat(centrals);
  const tail: Buffer[] = [];
  if (o.zip64) {
    const record = Buffer.alloc(56);
    record.writeUInt32LE(0x06064b50, 0); record.writeBigUInt64LE(44n, 4); record.writeUInt16LE(45, 12); record.writeUInt16LE(45, 14);
    record.writeBigUInt64LE(BigInt(files.length), 24); record.writeBigUInt64LE(BigInt(files.length), 32);
    record.writeBigUInt64LE(BigInt(cd.length), 40); record.writeBigUInt64LE(BigInt(offset), 48);
    const locator = Buffer.alloc(20);
    locator.writeUInt32LE(0x07064b50, 0); locator.writeBigUInt64LE(BigInt(offset + cd.length), 8); locator.writeUInt32LE(1, 16);
    tail.push(record, locator);
  }
  const comment = o.comment ?? Buffer.alloc(0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(o.zip64 ? 0xffff : files.length, 8); end.writeUInt16LE(o.zip64 ? 0xffff : files.length, 10);
  end.writeUInt32LE(o.zip64 ? 0xffffffff : cd.length, 12); end.writeUInt32LE(o.zip64 ? 0xffffffff : offset, 16);
  end.writeUInt16LE(comment.length, 20);
  return Buffer.concat([...parts, cd, ...tail, end, comment]);
}

const dirs: string[] = [];
const fresh = () => { const d = mkdtempSync(join(tmpdir(), 'semid-zip-')); dirs.push(d); return d; };
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const FILES: Array<[string, Buffer]> = [
  ['ml-x/movies.csv', Buffer.from('movieId,title\n1,Amélie (2001)\n'.repeat(50))],
  ['ml-x/empty.csv', Buffer.alloc(0)],
  ['ml-x/sub/bytes.bin', Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919) % 251))],
];

function expectUnpacked(dir: string, files: Array<[string, Buffer]>) {
  for (const [name, data] of files) expect(readFileSync(join(dir, name)).equals(data)).toBe(true);
}

describe('unzip', () => {
  it('unpacks stored and deflated entries, empty ones included', () => {
    const dir = fresh();
    expect(unzip(makeZip(FILES), dir)).toEqual(FILES.map(([n]) => n));
    expectUnpacked(dir, FILES);
  });

  it('finds the end record behind a comment that holds its signature', () => {
    const dir = fresh();
    const comment = Buffer.concat([Buffer.from('see '), Buffer.from([0x50, 0x4b, 0x05, 0x06]), Buffer.alloc(30, 0x41)]);
    expect(unzip(makeZip(FILES, { comment }), dir)).toHaveLength(3);
    expectUnpacked(dir, FILES);
  });

  it('reads Zip64 counts, sizes and offsets', () => {
    const dir = fresh();
    expect(unzip(makeZip(FILES, { zip64: true }), dir)).toHaveLength(3);
    expectUnpacked(dir, FILES);
  });

  it('decodes names as UTF-8 when flagged, else as Latin-1 (CP437 for ASCII)', () => {
    const dir = fresh();
    const files: Array<[string, Buffer]> = [['ml-x/Amélie.txt', Buffer.from('a')]];
    expect(unzip(makeZip(files), dir)).toEqual(['ml-x/Amélie.txt']);
    expect(unzip(makeZip(files, { utf8: false }), fresh())).toEqual(['ml-x/Amélie.txt']);
  });

  it('reports every truncation and damaged byte as a zip error, never a RangeError', () => {
    for (const zip64 of [false, true]) {
      const zip = makeZip(FILES, { zip64 });
      for (let cut = 0; cut < zip.length; cut += 7) {
        const dir = fresh();
        let code: unknown = 'none';
        try { unzip(zip.subarray(0, cut), dir); } catch (err) { code = (err as { code?: string }).code; }
        expect(code, `cut at ${cut}`).toBe('ERR_SEMID_ZIP');
        rmSync(dir, { recursive: true, force: true });
      }
      // One flipped bit anywhere either unpacks the same bytes (a field the reader ignores) or is a zip error.
      const dir = fresh();
      for (let at = 0; at < zip.length; at += 3) {
        const bad = Buffer.from(zip);
        bad[at] ^= 1 << (at % 8);
        try { unzip(bad, dir); } catch (err) { expect((err as { code?: string }).code, `bit flipped at byte ${at}`).toBe('ERR_SEMID_ZIP'); }
      }
    }
  });

  it('says what is wrong: not a zip, bad CRC, entries outside the folder, other methods', () => {
    expect(() => unzip(Buffer.from('plain text, no archive here'), fresh())).toThrow(/not a zip archive/);
    const zip = makeZip([['a.txt', Buffer.from('hello')], ['b.txt', Buffer.from('world')]]);
    const badCrc = Buffer.from(zip);
    badCrc[zip.indexOf('world')] ^= 0x20;  // stored entry: the data changes, its CRC does not
    expect(() => unzip(badCrc, fresh())).toThrow(/"b.txt" fails its CRC check/);
    expect(() => unzip(makeZip([['../evil.txt', Buffer.from('x')]]), fresh())).toThrow(/"..\/evil.txt" points outside the folder/);
    const method = Buffer.from(zip);
    method.writeUInt16LE(12, zip.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])) + 10);  // bzip2
    expect(() => unzip(method, fresh())).toThrow(/compression method 12, not stored \(0\) or deflate \(8\)/);
    const dir = fresh();
    expect(() => unzip(makeZip([['../evil.txt', Buffer.from('x')]]), dir)).toThrow();
    expect(readdirSync(dir)).toEqual([]);
  });
});
