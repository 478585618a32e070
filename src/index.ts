/** semid: Semantic IDs for joint generative search and recommendation. */
export { gemm, type GemmOptions } from './kernels/gemm.js';
export { nearestCentroids, type NearestOptions, type NearestResult } from './kernels/nearest.js';
export { gemmReference, nearestReference } from './kernels/reference.js';
export { info, type SemidInfo } from './kernels/info.js';
export { cudaAvailable, type Device } from './kernels/device.js';
export { SemidError, SemidArgumentError } from './kernels/errors.js';
export { RQKMeans, asMatrix, type Matrix, type RQTrainOptions, type RQEncodeOptions, type RQProgress, type Codes, type RQStats, type RQTraining } from './kernels/rqkmeans.js';
export { codeStats, type CodeStats } from './ids/stats.js';
export { readNpy, readNpyMatrix, writeNpy, encodeNpy, type NpyArray, type NpyDtype } from './data/npy.js';
export { IdTrie, type IdTrieNamespace, type IdTrieStats } from './decoding/trie.js';
export { beamStep, validateBeamStep, type BeamStepInput, type BeamStepOutput, type BeamStepOptions } from './decoding/beam-step.js';
export { beamStepReference } from './decoding/beam-step-reference.js';
export { constrainedBeamSearch, rankItems, type BeamSearchOptions, type StepFn, type StepRequest, type Hypothesis, type QueryResult } from './decoding/beam-search.js';
export { exhaustiveSearch, type ExhaustiveSearchOptions } from './decoding/exhaustive.js';
export { truncatedSvd, TruncatedSVD, type SvdOptions, type SvdResult, type SvdMethod, type CsrMatrix } from './linalg/svd.js';
export { svdReference } from './linalg/reference.js';
