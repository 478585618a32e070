/**
 * semid/core: the native core and everything that does not need TensorFlow.js (GEMM, nearest
 * centroids, RQ-KMeans, the trie and constrained beam search, truncated SVD, .npy, MovieLens and
 * the joint data set). Importing it starts no TensorFlow.js backend, so a Node service that only
 * quantizes or decodes loads in a fraction of the time `semid` takes.
 * @example import { RQKMeans, IdTrie, constrainedBeamSearch } from 'semid/core';
 */
export { gemm, type GemmOptions } from './kernels/gemm.js';
export { nearestCentroids, type NearestOptions, type NearestResult } from './kernels/nearest.js';
export { gemmReference, nearestReference } from './kernels/reference.js';
export { info, type SemidInfo } from './kernels/info.js';
export { cudaAvailable, type Device } from './kernels/device.js';
export { SemidError, SemidArgumentError, Described } from './kernels/errors.js';
export { RQKMeans, asMatrix, type Matrix, type RQTrainOptions, type RQEncodeOptions, type RQProgress, type Codes, type RQStats, type RQTraining } from './kernels/rqkmeans.js';
export { codeStats, type CodeStats } from './ids/stats.js';
export { readNpy, readNpyMatrix, writeNpy, encodeNpy, type NpyArray, type NpyDtype } from './data/npy.js';
export { openNpyRows, type NpyRowReader } from './data/npy-rows.js';
export { quantizeNpyFile, shouldStream, type QuantizeFileOptions, type QuantizeFileResult } from './ids/quantize-file.js';
export { IdTrie, type IdTrieNamespace, type IdTrieStats } from './decoding/trie.js';
export { beamStep, validateBeamStep, type BeamStepInput, type BeamStepOutput, type BeamStepOptions } from './decoding/beam-step.js';
export { allocateBeamStepOutput, beamStepOutputBytes, beamStepReference } from './decoding/beam-step-reference.js';
export { constrainedBeamSearch, rankItems, type BeamSearchArrays, type BeamSearchOptions, type StepFn, type StepRequest, type Hypothesis, type QueryResult } from './decoding/beam-search.js';
export { exhaustiveSearch, type ExhaustiveSearchOptions } from './decoding/exhaustive.js';
export { truncatedSvd, TruncatedSVD, type SvdOptions, type SvdResult, type SvdMethod, type CsrMatrix } from './linalg/svd.js';
export { svdReference } from './linalg/reference.js';
export { readMovieLens, detectMovieLensFormat, readDescriptions, type ReadMovieLensOptions, type ReadProgress } from './data/movielens/read.js';
export type { MovieLensData, MovieLensFormat, MovieTable, RatingTable, TagTable, GenomeTable, LinkTable, DropCount } from './data/movielens/types.js';
export { readNumericColumns, type NumericColumnSpec, type NumericReadOptions, type NumericColumns } from './data/numeric-columns.js';
export { buildInteractions, checkInteractionOptions, headItems, INTERACTION_DEFAULTS, type InteractionOptions, type Interactions } from './data/interactions.js';
export { buildItemMeta, checkItemTextOptions, ITEM_TEXT_DEFAULTS, type ItemMeta, type ItemTextOptions } from './data/item-text.js';
export { parseTitle, containsTitle, titleMatcher, normalizeWords, type ParsedTitle } from './data/titles.js';
export { templateQuerySource, templateQueries } from './data/queries/template.js';
export { jsonlQuerySource } from './data/queries/jsonl.js';
export { llmQuerySource, queryPrompt, parseQueryAnswer, type LlmQueryOptions } from './data/queries/llm.js';
export { QUERIES_PER_ITEM, TRAIN_QUERIES_PER_ITEM, queryProblem, type QuerySource, type QuerySourceOptions } from './data/queries/types.js';
export { buildJointDataset, checkDatasetOptions, writeJointDataset, loadJointDataset, recExample, type JointDataset, type DatasetOptions, type DatasetManifest, type DatasetSummary, type SearchExample, type Split } from './data/dataset.js';
export { syntheticMovieLens, type SyntheticOptions } from './data/synthetic.js';
export { resolveDataSource, sharedMovieLensDir, type DataSource } from './data/source.js';
export { downloadMovieLens, unzip, crc32, MOVIELENS_RELEASES } from './data/download.js';
export { DataFormatError } from './data/errors.js';
