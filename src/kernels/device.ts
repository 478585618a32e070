/** Backend selection: 'auto' picks CUDA when the loaded addon sees a device, else the CPU. */
import { loadAddon } from '../native/loader.js';
import { SemidArgumentError, SemidError } from './errors.js';

export type Device = 'auto' | 'cpu' | 'cuda';
export const DEVICES: readonly Device[] = ['auto', 'cpu', 'cuda'];

/**
 * Whether the CUDA backend can run here (a CUDA build is loaded and sees a device).
 * @example const device = cudaAvailable() ? 'cuda' : 'cpu';
 */
export function cudaAvailable(): boolean {
  return loadAddon().addon.info().cuda.deviceCount > 0;
}

/**
 * Resolve a requested device to the backend that will run. `preferCuda` lets 'auto' stay on the
 * CPU for work too small to pay for the copies.
 */
export function resolveDevice(value: unknown, preferCuda = true): 'cpu' | 'cuda' {
  const device = value === undefined ? 'auto' : value;
  if (device !== 'auto' && device !== 'cpu' && device !== 'cuda') {
    throw new SemidArgumentError('device', `one of ${DEVICES.map((d) => `"${d}"`).join(', ')}`, value);
  }
  if (device === 'cpu') return 'cpu';
  const cuda = loadAddon().addon.info().cuda;
  if (device === 'cuda') {
    if (cuda.deviceCount > 0) return 'cuda';
    throw new SemidError('ERR_SEMID_NO_CUDA', `device "cuda" was requested but is not available: ${cuda.reason}`);
  }
  return cuda.deviceCount > 0 && preferCuda ? 'cuda' : 'cpu';
}
