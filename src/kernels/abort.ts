/** Bridges an AbortSignal to the native cancellation flag (an Int32Array the kernels poll). */

export interface CancelHandle {
  flag: Int32Array | undefined;
  dispose(): void;
}

/**
 * What an aborted signal rejects with: its reason where that is an Error, else an AbortError.
 * @example controller.abort(new Error('stopped')); abortError(controller.signal).message // 'stopped'
 */
export function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new DOMException('The operation was aborted', 'AbortError');
}

/** Throw the signal's reason (or an AbortError) when it is already aborted. */
export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw abortError(signal);
}

/** A flag set to 1 when `signal` aborts; call dispose() when the native call settles. */
export function cancelFlag(signal?: AbortSignal): CancelHandle {
  if (!signal) return { flag: undefined, dispose() {} };
  throwIfAborted(signal);
  const flag = new Int32Array(1);
  const onAbort = () => {
    flag[0] = 1;
  };
  signal.addEventListener('abort', onAbort, { once: true });
  return { flag, dispose: () => signal.removeEventListener('abort', onAbort) };
}
