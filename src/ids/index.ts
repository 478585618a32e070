/** Semantic ID strategies, quantizers and collision handling. */
export { buildIds, fitQuantizer, loadQuantizer, expectCollisionPolicy, STRATEGIES, QUANTIZERS, type CollisionPolicy, type Strategy, type IdSettings, type IdAssignment, type NamespaceIds } from './strategies.js';
export { DictionaryQuantizer } from './dictionary.js';
export { RQKMeansQuantizer, ResidualLFQ, quantizerStats, saveQuantizer, readQuantizerFile, type Quantizer, type QuantizerName, type QuantizerStats, type QuantizerFitOptions } from './quantizer.js';
export { RqVaeQuantizer, type RqVaeOptions } from './rqvae.js';
export { saveIds, loadIds, idsName } from './store.js';
export { dedupCodes, type DedupResult, type DedupOptions, type CodeRows } from './dedup.js';
