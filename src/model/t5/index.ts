/** T5 in TensorFlow.js. */
export { T5Model, dropout, tokenCrossEntropy, type T5Batch, type ForwardOptions, type LossOptions } from './model.js';
export { lengthGroups, rowExtents, subBatch, type LengthGroup } from './length-groups.js';
export { t5Activation, activateT5, activationNamed, feedForwardHidden, type T5Activation } from './activation.js';
export { T5_PRESETS, t5ConfigFromHf, t5ConfigToHf, type T5Config } from './config.js';
export { relativePositionBucket, positionBuckets } from './position.js';
export { T5DecoderSession } from './decoder-session.js';
export { generate, type GenerateOptions } from './generate.js';
export { T5Tokenizer, trainWordPieceTokenizer, T5_SPECIALS } from './tokenizer.js';
export { JointTask, padBatch, SEARCH_TASK, REC_TASK, type JointTaskOptions, type ItemTokenSpace } from './joint-task.js';
export { loadT5Folder, saveT5Folder, readGenerationSettings, idTokenNames, resizeTokenEmbeddings, type GenerationSettings } from './checkpoint-folder.js';
export { meanResizedRows, MEAN_RESIZING_SCALE } from './mean-resizing.js';
export { trainJointT5, PAPER_T5_TRAINING, type JointTrainOptions, type TrainingTask } from './train-joint.js';
export { PairTask, trainT5OnPairs, type TokenPair } from './pair-task.js';
