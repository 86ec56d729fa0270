// The models' part of the decode step on a CPU as one op (decode_step.py runs it for float32
// arithmetic): what `decode_step.decode_logits` computes, with the same ATen ops as that
// function run eagerly (its reference: tests compare the logits and the cache written). With
// no more threads than models, the models run side by side: each of a stacked engine's M
// models runs its whole one-token forward on its own thread (at::parallel_for over the models;
// the ops inside run on that thread alone), where the compiled graph runs one op at a time on
// every thread, with Python between the ops and the threads waiting at each op's end. With
// more threads, one model after the other, each op on every thread.
//
// decode_models(weights, n_models, ids, cos, sin, keys, values, valid, n_heads, n_kv, eps)
//     -> M x (B, vocab) logits
//   weights: per model, its embedding (vocab, hidden), final norm (1, hidden), output layer
//   (vocab, hidden), then per layer: input norm (1, hidden), the fused q/k/v product
//   (q+k+v, hidden), o (hidden, hidden), the post-attention norm (1, hidden), the fused
//   gate/up product (2 ffn, hidden), down (hidden, ffn): a product's weight plain or packed
//   for oneDNN (mkldnn::_linear_pointwise, as kernels.linear runs it). ids (B,) int64; cos,
//   sin (B, 1, head_dim) in the models' dtype (llama_math.rope_tables); keys, values: the
//   cache's per-layer (M, B, KV, Lmax, head_dim) tensors; valid (B, end) bool: the token is
//   written at slot end - 1 and attends over the valid slots (the attention op's contract).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <string>
#include <vector>

namespace {

constexpr int64_t PER_MODEL = 3, PER_LAYER = 6;  // see the top of the file

// x @ w.T: oneDNN's packed product for a packed weight (kernels.py), else at::linear
at::Tensor product(const at::Tensor& x, const at::Tensor& w) {
  if (!w.is_mkldnn()) return at::linear(x, w);
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("mkldnn::_linear_pointwise", "");
  torch::jit::Stack stack{x.contiguous(), w, c10::IValue(), std::string("none"),
                          c10::List<std::optional<at::Scalar>>(), c10::IValue()};
  op.callBoxed(stack);
  return stack[0].toTensor();
}

// the library's attention op (decode_attention.cpp): writes k, v at slot end - 1
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const at::Tensor& k_cache, const at::Tensor& v_cache,
                     const at::Tensor& valid) {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("cdsynth_cpu::decode_attention_", "");
  torch::jit::Stack stack{q, k, v, k_cache, v_cache, valid};
  op.callBoxed(stack);
  return stack[0].toTensor();
}

// llama_math.rms_norm: statistics in float32 (float64 stays float64)
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps) {
  const at::Tensor h = x.scalar_type() == at::kDouble ? x : x.to(at::kFloat);
  return w * (h * at::rsqrt(h.pow(2).mean(-1, true) + eps)).to(x.scalar_type());
}

// llama_math.rotate: RoPE in HF's rotate_half layout
at::Tensor rotate(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  return x * cos + at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1) * sin;
}

// one model's forward of one token per row (decode_step.decode_logits for model m)
at::Tensor one_model(const at::Tensor* w, int64_t m, const at::Tensor& ids, const at::Tensor& cos,
                     const at::Tensor& sin, at::TensorList keys, at::TensorList values,
                     const at::Tensor& valid, int64_t H, int64_t KV, double eps) {
  const int64_t B = ids.size(0);
  at::Tensor x = w[0].index_select(0, ids);  // (B, hidden)
  const int64_t D = cos.size(-1);  // the head size (a config may set it apart from hidden / H)
  for (size_t li = 0; li < keys.size(); ++li) {
    const at::Tensor* L = w + PER_MODEL + li * PER_LAYER;
    const auto qkv = product(rms_norm(x, L[0], eps), L[1]).split_with_sizes({H * D, KV * D, KV * D}, -1);
    const at::Tensor q = rotate(qkv[0].view({1, B, H, D}), cos, sin);
    const at::Tensor k = rotate(qkv[1].view({1, B, KV, D}), cos, sin);
    const at::Tensor v = qkv[2].view({1, B, KV, D});
    const at::Tensor att =
        attention(q, k, v, keys[li].narrow(0, m, 1), values[li].narrow(0, m, 1), valid);
    x.add_(product(att.view({B, H * D}), L[2]));  // (x: this op's own tensor)
    const auto gate_up = product(rms_norm(x, L[3], eps), L[4]).chunk(2, -1);
    x.add_(product(at::silu(gate_up[0]).mul_(gate_up[1]), L[5]));
  }
  return product(rms_norm(x.to(w[1].scalar_type()), w[1], eps), w[2]);
}

std::vector<at::Tensor> decode_models(at::TensorList weights, int64_t M, const at::Tensor& ids,
                                      const at::Tensor& cos, const at::Tensor& sin,
                                      at::TensorList keys, at::TensorList values,
                                      const at::Tensor& valid, int64_t H, int64_t KV,
                                      double eps) {
  const int64_t per_model = PER_MODEL + PER_LAYER * static_cast<int64_t>(keys.size());
  TORCH_CHECK(M >= 1 && static_cast<int64_t>(weights.size()) == M * per_model,
              "decode_models: ", M * per_model, " weights expected, got ", weights.size());
  TORCH_CHECK(values.size() == keys.size(), "decode_models: one keys and values per layer");
  for (const auto& c : keys) TORCH_CHECK(c.dim() == 5 && c.size(0) == M, "decode_models: cache");
  TORCH_CHECK(ids.dim() == 1 && ids.scalar_type() == at::kLong, "decode_models: ids (B,) int64");
  std::vector<at::Tensor> out(M);
  const at::ThreadLocalState state;  // the caller's (profiler, dispatch modes), on every thread
  const auto models = [&](int64_t lo, int64_t hi) {
    const at::ThreadLocalStateGuard guard(state);
    for (int64_t m = lo; m < hi; ++m)
      out[m] = one_model(weights.data() + m * per_model, m, ids, cos, sin, keys, values, valid,
                         H, KV, eps);
  };
  if (at::get_num_threads() <= M)
    at::parallel_for(0, M, 1, models);  // a thread per model, each op on that thread alone
  else
    models(0, M);  // more threads than models: one model after the other, each op on them all
  return out;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(cdsynth_cpu, m) {
  m.def(
      "decode_models(Tensor[] weights, int n_models, Tensor ids, Tensor cos, Tensor sin, "
      "Tensor(a!)[] keys, Tensor(b!)[] values, Tensor valid, int n_heads, int n_kv, float eps) "
      "-> Tensor[]");
}

// packed weights are oneDNN tensors (MkldnnCPU): the op takes both kinds
TORCH_LIBRARY_IMPL(cdsynth_cpu, CPU, m) { m.impl("decode_models", &decode_models); }
TORCH_LIBRARY_IMPL(cdsynth_cpu, MkldnnCPU, m) { m.impl("decode_models", &decode_models); }
