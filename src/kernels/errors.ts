/** Errors thrown by semid, each with a stable `code`. */

/**
 * An error with a machine-readable code (e.g. ERR_SEMID_INVALID_ARG, ERR_SEMID_CUDA).
 * @example try { await RQKMeans.train(x, { dim: 0 }); } catch (e) { if (e instanceof SemidError) console.log(e.code); } // ERR_SEMID_INVALID_ARG
 */
export class SemidError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SemidError';
    this.code = code;
  }
}

/**
 * Thrown for a bad argument: names the parameter, what was expected and what came.
 * @example new SemidArgumentError('levels', 'an integer >= 1', 0).message // 'Expected an integer >= 1 for levels but received 0'
 */
export class SemidArgumentError extends SemidError {
  readonly parameter: string;
  /** What the parameter should have been, as in the message. */
  readonly expected: string;
  /** What it was, described as in the message. */
  readonly received: string;
  constructor(parameter: string, expected: string, received: unknown) {
    const receivedText = describe(received);
    super('ERR_SEMID_INVALID_ARG', `Expected ${expected} for ${parameter} but received ${receivedText}`);
    this.name = 'SemidArgumentError';
    this.parameter = parameter;
    this.expected = expected;
    this.received = receivedText;
  }

  /**
   * The same error naming the parameter otherwise, e.g. by the command-line flag that set it.
   * @example new SemidArgumentError('codebookSize', 'an integer >= 2', 0).withParameter('--codebook').message // 'Expected an integer >= 2 for --codebook but received 0'
   */
  withParameter(parameter: string): SemidArgumentError {
    const e = new SemidArgumentError(parameter, this.expected, undefined);
    const message = `Expected ${this.expected} for ${parameter} but received ${this.received}`;
    Object.defineProperty(e, 'received', { value: this.received });
    e.message = message;
    if (this.stack) e.stack = this.stack.replace(this.message, message);
    return e;
  }
}

/**
 * A received value already described in words (e.g. "NaN at row 3, column 1"), shown as is.
 * @example new SemidArgumentError('x', 'finite values', new Described('NaN at row 0, column 1')).message // 'Expected finite values for x but received NaN at row 0, column 1'
 */
export class Described {
  constructor(readonly text: string) {}
}

/** A short description of a value for error messages. */
export function describe(value: unknown): string {
  if (value instanceof Described) return value.text;
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  if (typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (ArrayBuffer.isView(value)) {
    const len = 'length' in value ? (value as unknown as { length: number }).length : value.byteLength;
    return `${value.constructor.name} of length ${len}`;
  }
  if (Array.isArray(value)) return `Array of length ${value.length}`;
  if (typeof value === 'function') return 'a function';
  return `an object (${Object.prototype.toString.call(value).slice(8, -1)})`;
}

/** Re-throw a native rejection as a SemidError (keeping its code), or an AbortError. */
export function fromNative(err: unknown, signal?: AbortSignal): Error {
  const e = err as Error & { code?: string };
  if (e?.code === 'ERR_SEMID_ABORTED') {
    const reason = signal?.reason;
    if (reason instanceof Error) return reason;
    return new DOMException('The operation was aborted', 'AbortError');
  }
  if (e instanceof Error && typeof e.code === 'string' && e.code.startsWith('ERR_SEMID')) {
    return new SemidError(e.code, e.message, { cause: e });
  }
  return e instanceof Error ? e : new Error(String(err));
}
