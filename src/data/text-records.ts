/**
 * Records from small delimited text files with string fields (movies.csv, tags.csv, movies.dat,
 * u.item): RFC 4180 quoting for CSV, plain splitting for the `::` and `|` formats, each record with
 * its line number so errors can point at it.
 */
import { readFile } from 'node:fs/promises';
import { DataFormatError } from './errors.js';

export interface TextRecord {
  /** 1-based line where the record starts. */
  line: number;
  fields: string[];
}

export interface TextReadOptions {
  separator: string;
  /** CSV quoting ("a, b" and "" inside quotes); off for the `::` and `|` formats. */
  quotes: boolean;
  /** utf8 (CSV releases) or latin1 (ML-1M, ML-100K). */
  encoding: 'utf8' | 'latin1';
  formatName: string;
}

/**
 * Read a whole delimited text file into records (blank lines skipped). Quoted CSV fields may hold
 * separators, doubled quotes and line breaks; an unterminated quote is an error naming its line.
 * @example
 * const records = await readTextRecords('movies.csv', { separator: ',', quotes: true, encoding: 'utf8', formatName: 'movies.csv' });
 */
export async function readTextRecords(path: string, options: TextReadOptions): Promise<TextRecord[]> {
  let text: string;
  try {
    text = await readFile(path, options.encoding);
  } catch (err) {
    throw new DataFormatError(path, 0, `cannot read ${options.formatName}: ${(err as Error).message}`);
  }
  text = withoutByteOrderMark(text);
  return options.quotes ? parseCsv(text, options.separator, path) : splitPlain(text, options.separator);
}

/**
 * Text without a leading UTF-8 byte order mark (spreadsheet tools write one).
 * @example withoutByteOrderMark('\uFEFFmovieId,title') // 'movieId,title'
 */
export function withoutByteOrderMark(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function splitPlain(text: string, separator: string): TextRecord[] {
  const out: TextRecord[] = [];
  let line = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    line++;
    let stop = end;
    if (stop > start && text.charCodeAt(stop - 1) === 13) stop--;
    if (stop > start) out.push({ line, fields: text.slice(start, stop).split(separator) });
    start = end + 1;
  }
  return out;
}

function parseCsv(text: string, separator: string, path: string): TextRecord[] {
  const out: TextRecord[] = [];
  const sep = separator.charCodeAt(0);
  const n = text.length;
  let i = 0;
  let line = 1;
  while (i < n) {
    const recordLine = line;
    const fields: string[] = [];
    let atLineEnd = false;
    // skip blank lines
    if (text.charCodeAt(i) === 10) { i++; line++; continue; }
    if (text.charCodeAt(i) === 13 && text.charCodeAt(i + 1) === 10) { i += 2; line++; continue; }
    while (!atLineEnd) {
      if (text.charCodeAt(i) === 34) {
        // quoted field
        let value = '';
        let j = i + 1;
        for (;;) {
          const q = text.indexOf('"', j);
          if (q < 0) throw new DataFormatError(path, recordLine, 'a quoted field is never closed');
          const piece = text.slice(j, q);
          for (let k = 0; k < piece.length; k++) if (piece.charCodeAt(k) === 10) line++;
          value += piece;
          if (text.charCodeAt(q + 1) === 34) { value += '"'; j = q + 2; continue; }
          i = q + 1;
          break;
        }
        fields.push(value);
        const c = text.charCodeAt(i);
        if (c === sep) { i++; continue; }
        if (i >= n) { atLineEnd = true; break; }
        if (c === 10) { i++; line++; atLineEnd = true; break; }
        if (c === 13 && text.charCodeAt(i + 1) === 10) { i += 2; line++; atLineEnd = true; break; }
        throw new DataFormatError(path, line, `unexpected text after a closing quote: "${text.slice(i, i + 20)}"`);
      } else {
        let j = i;
        while (j < n) {
          const c = text.charCodeAt(j);
          if (c === sep || c === 10) break;
          j++;
        }
        let stop = j;
        if (j < n && text.charCodeAt(j) === 10 && stop > i && text.charCodeAt(stop - 1) === 13) stop--;
        else if (j >= n && stop > i && text.charCodeAt(stop - 1) === 13) stop--;
        fields.push(text.slice(i, stop));
        if (j < n && text.charCodeAt(j) === sep) { i = j + 1; if (i >= n) { fields.push(''); atLineEnd = true; } continue; }
        i = j + 1;
        line++;
        atLineEnd = true;
      }
    }
    out.push({ line: recordLine, fields });
  }
  return out;
}
