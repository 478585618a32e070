/** Item embeddings: content (TF-IDF + SVD), bi-encoders (search, multi-task), ENMF, fusions. */
export { TfidfVectorizer, textTerms, textWords, type TfidfOptions } from './tfidf.js';
export { fitContentEncoder, encodeContent, type ContentModel, type ContentOptions } from './content.js';
export { TextTower, trainBiEncoder, mnrlLoss, BIENCODER_PROFILES, type BiEncoderTrainOptions, type TowerWeights } from './biencoder.js';
export { trainEnmf, enmfBatchLoss, ENMF_PROFILES, type EnmfModel, type EnmfOptions, type UserItems } from './enmf.js';
export { fuseConcat, fuseSvd } from './fusion.js';
export { recallAtK, topK } from './retrieval.js';
export { trainUserItems, testTargets, popularityRecall } from './histories.js';
export { saveEmbeddings, loadEmbeddings, EMBEDDING_KINDS, type EmbeddingKind } from './store.js';
export { embedStage, type EmbedOptions, type EmbedResult } from './stages.js';
export { normalizeRows, csrTimesDense } from './vectors.js';
export { SentenceEncoder, type SentenceEncoderConfig } from './sentence-encoder.js';
export { poolingModes, sentenceHead, SENTENCE_POOLING_MODES, type SentencePooling, type SentenceDense, type SentenceHead } from './st-modules.js';
