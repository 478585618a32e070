// Module registration. NODE_API_MODULE makes a context-aware addon (no per-process state), so it
// loads in worker threads (piscina) as well as on the main thread.
#include <napi.h>

#include "bindings.h"

namespace {
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, semid::addon::Info, "info"));
  exports.Set("gemm", Napi::Function::New(env, semid::addon::Gemm, "gemm"));
  exports.Set("gemmSync", Napi::Function::New(env, semid::addon::GemmSync, "gemmSync"));
  exports.Set("nearest", Napi::Function::New(env, semid::addon::Nearest, "nearest"));
  exports.Set("rqTrain", Napi::Function::New(env, semid::addon::RqTrain, "rqTrain"));
  exports.Set("rqEncode", Napi::Function::New(env, semid::addon::RqEncode, "rqEncode"));
  exports.Set("rqDecode", Napi::Function::New(env, semid::addon::RqDecode, "rqDecode"));
  exports.Set("beamStep", Napi::Function::New(env, semid::addon::BeamStep, "beamStep"));
  // beamStep's calling convention (31 positional arguments): the JS side checks it, so that an
  // addon built from an older checkout says so instead of misreading its arguments.
  exports.Set("beamStepArgs", Napi::Number::New(env, 31));
  exports.Set("rankFinished", Napi::Function::New(env, semid::addon::RankFinished, "rankFinished"));
  exports.Set("gatherRankedItems", Napi::Function::New(env, semid::addon::GatherRankedItems, "gatherRankedItems"));
  exports.Set("addCompleteBeams", Napi::Function::New(env, semid::addon::AddCompleteBeams, "addCompleteBeams"));
  exports.Set("trieDenseRows", Napi::Function::New(env, semid::addon::TrieDenseRows, "trieDenseRows"));
  exports.Set("truncatedSvd", Napi::Function::New(env, semid::addon::TruncatedSvd, "truncatedSvd"));
  exports.Set("adamwSync", Napi::Function::New(env, semid::addon::AdamWSync, "adamwSync"));
  exports.Set("sumSquaresSync", Napi::Function::New(env, semid::addon::SumSquaresSync, "sumSquaresSync"));
  exports.Set("rmsNormForwardSync", Napi::Function::New(env, semid::addon::RmsNormForwardSync, "rmsNormForwardSync"));
  exports.Set("rmsNormBackwardSync", Napi::Function::New(env, semid::addon::RmsNormBackwardSync, "rmsNormBackwardSync"));
  exports.Set("gatedForwardSync", Napi::Function::New(env, semid::addon::GatedForwardSync, "gatedForwardSync"));
  exports.Set("gatedBackwardSync", Napi::Function::New(env, semid::addon::GatedBackwardSync, "gatedBackwardSync"));
  exports.Set("dropoutSync", Napi::Function::New(env, semid::addon::DropoutSync, "dropoutSync"));
  exports.Set("crossEntropyForwardSync", Napi::Function::New(env, semid::addon::CrossEntropyForwardSync, "crossEntropyForwardSync"));
  exports.Set("crossEntropyBackwardSync", Napi::Function::New(env, semid::addon::CrossEntropyBackwardSync, "crossEntropyBackwardSync"));
  exports.Set("segmentSumSync", Napi::Function::New(env, semid::addon::SegmentSumSync, "segmentSumSync"));
  exports.Set("attentionForwardSync", Napi::Function::New(env, semid::addon::AttentionForwardSync, "attentionForwardSync"));
  exports.Set("attentionBackwardSync", Napi::Function::New(env, semid::addon::AttentionBackwardSync, "attentionBackwardSync"));
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  return exports;
}
}  // namespace

NODE_API_MODULE(semid, Init)
