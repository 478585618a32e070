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
  constructor(parameter: string, expected: string, received: unknown) {
    super('ERR_SEMID_INVALID_ARG', `Expected ${expected} for ${parameter} but received ${describe(received)}`);
    this.name = 'SemidArgumentError';
    this.parameter = parameter;
  }
}

/** A short description of a value for error messages. */
export function describe(value: unknown): string {
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
