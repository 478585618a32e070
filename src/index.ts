/** semid: Semantic IDs for joint generative search and recommendation. */
export { gemm, type GemmOptions } from './kernels/gemm.js';
export { nearestCentroids, type NearestOptions, type NearestResult } from './kernels/nearest.js';
export { gemmReference, nearestReference } from './kernels/reference.js';
export { info, type SemidInfo } from './kernels/info.js';
export { cudaAvailable, type Device } from './kernels/device.js';
export { SemidError, SemidArgumentError } from './kernels/errors.js';
