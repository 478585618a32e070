/** Errors about input data files: each names the file, the line (when there is one) and what was wrong. */
import { SemidError } from '../kernels/errors.js';

/**
 * A malformed or missing data file. `line` is 1-based, 0 when the problem is the whole file.
 * @example new DataFormatError('ratings.csv', 3, 'field rating is "x", not a number').message // 'ratings.csv:3: field rating is "x", not a number'
 */
export class DataFormatError extends SemidError {
  readonly path: string;
  readonly line: number;
  constructor(path: string, line: number, message: string) {
    super('ERR_SEMID_DATA', line > 0 ? `${path}:${line}: ${message}` : `${path}: ${message}`);
    this.name = 'DataFormatError';
    this.path = path;
    this.line = line;
  }
}
