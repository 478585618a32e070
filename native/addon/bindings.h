// Declarations of the addon's exported functions (one .cc per family).
#pragma once
#include <napi.h>

namespace semid::addon {
Napi::Value Info(const Napi::CallbackInfo& info);
Napi::Value Gemm(const Napi::CallbackInfo& info);
Napi::Value GemmSync(const Napi::CallbackInfo& info);
Napi::Value AdamWSync(const Napi::CallbackInfo& info);
Napi::Value SumSquaresSync(const Napi::CallbackInfo& info);
Napi::Value RmsNormForwardSync(const Napi::CallbackInfo& info);
Napi::Value RmsNormBackwardSync(const Napi::CallbackInfo& info);
Napi::Value GatedForwardSync(const Napi::CallbackInfo& info);
Napi::Value GatedBackwardSync(const Napi::CallbackInfo& info);
Napi::Value DropoutSync(const Napi::CallbackInfo& info);
Napi::Value CrossEntropyForwardSync(const Napi::CallbackInfo& info);
Napi::Value CrossEntropyBackwardSync(const Napi::CallbackInfo& info);
Napi::Value SegmentSumSync(const Napi::CallbackInfo& info);
Napi::Value AttentionForwardSync(const Napi::CallbackInfo& info);
Napi::Value AttentionBackwardSync(const Napi::CallbackInfo& info);
Napi::Value Nearest(const Napi::CallbackInfo& info);
Napi::Value RqTrain(const Napi::CallbackInfo& info);
Napi::Value RqEncode(const Napi::CallbackInfo& info);
Napi::Value RqDecode(const Napi::CallbackInfo& info);
Napi::Value BeamStep(const Napi::CallbackInfo& info);
Napi::Value TrieDenseRows(const Napi::CallbackInfo& info);
Napi::Value RankFinished(const Napi::CallbackInfo& info);
Napi::Value GatherRankedItems(const Napi::CallbackInfo& info);
Napi::Value AddCompleteBeams(const Napi::CallbackInfo& info);
Napi::Value TruncatedSvd(const Napi::CallbackInfo& info);
}  // namespace semid::addon
