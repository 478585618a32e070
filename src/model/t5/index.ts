/** T5 in TensorFlow.js. */
export { T5Model, dropout, tokenCrossEntropy, type T5Batch, type ForwardOptions } from './model.js';
export { T5_PRESETS, t5ConfigFromHf, t5ConfigToHf, type T5Config } from './config.js';
export { relativePositionBucket, positionBuckets } from './position.js';
export { T5DecoderSession } from './decoder-session.js';
export { generate, type GenerateOptions } from './generate.js';
