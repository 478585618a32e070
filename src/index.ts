/** semid: Semantic IDs for joint generative search and recommendation. */
export * from './core.js';
export * from './model/runtime/index.js';
export { readSafetensors, readSafetensorsFolder, safetensorsWeightsIn, writeSafetensors, encodeSafetensors, floatToHalf, floatToBf16, type SafeTensor, type SafetensorsDtype, type SafetensorsFile } from './model/safetensors.js';
export * from './model/t5/index.js';
export * from './embed/index.js';
export * from './ids/index.js';
export { pairedTTest, bonferroni, mean, std, incompleteBeta, type TTestResult } from './eval/stats.js';
export { recallAt, ndcgAt } from './eval/metrics.js';
export { defaultDecodeBatch, evaluateTask, itemTrie, type ExampleResult, type DecodeSettings } from './eval/generative.js';
export { DecodePool, decodeWorkers, type DecodePoolOptions, type DecodeChunk } from './eval/decode-pool.js';
export { loadRunModel, askSearch, askRecommend, userHistory, itemsOfMovies, resolveAskOptions, type RunModel, type RunModelOptions, type Answer, type AskOptions, type ResolvedAskOptions } from './pipeline/ask.js';
export { AskBatcher, type AskBatcherOptions, type AskBatcherStats } from './pipeline/ask-batcher.js';
export { createAskServer, MAX_BODY_BYTES, type AskServer, type AskServerOptions } from './pipeline/serve.js';
export { GenerativeRetriever, type RetrieverOptions, type RetrievedItem } from './pipeline/retriever.js';
export { runStudy, STUDY_PROFILES, spacesFor, resolvePretrained, trainingSubset, type StudyOptions, type StudyProfile, type StrategyResult } from './pipeline/study.js';
export { writeReport, figureSvg, figurePng, PAPER_RECALL30, PAPER_QUANTIZERS } from './pipeline/report.js';
export { encodePng, Canvas } from './pipeline/png.js';
