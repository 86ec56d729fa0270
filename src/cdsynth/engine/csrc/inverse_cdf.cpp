// Inverse-CDF sampling from scores on a CPU: `decoding.sample`'s softmax, cumulative sum and
// search in one op (see cpu_attention.py).
//
// inverse_cdf(scores, row_max, uniforms) -> tokens
//   scores (R, V) float32 or float64, -inf for tokens left out; row_max (R,) float64, each
//   row's max; uniforms (R,) float64 in [0, 1). In float64, e_i = exp(scores_i - row_max)
//   (exactly 0 for -inf). Row r returns the token where the running sum of its e first
//   exceeds uniforms[r] times their total, else (rounding at the very top) the last token
//   with e > 0, else 0: int64 (R,). A token with e = 0 is never returned.
//
// The reference divides by the sum first (a softmax) and takes ATen's cumsum: the same
// numbers up to float64 rounding (a token differs only where a uniform falls within ~1e-16
// of a step of the CDF; tests compare tokens). Here the sums run over blocks of four
// entries, (e0 + e1) + (e2 + e3), block after block (the total the same way); inside the
// block where the running sum passes the target, entry by entry. A block of -inf scores
// (most of a V_head cut) costs one compare and no exp; a full row, one vector exp per four
// entries: no division, no cumsum written to memory, no search.
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <vector>

#include "inverse_cdf.h"

namespace {

using cdsynth_sample::pick_token;
using cdsynth_sample::row_exps;

template <typename T>
void pick_rows(const at::Tensor& s, const double* mp, const double* up, int64_t* op) {
  const int64_t R = s.size(0), V = s.size(1);
  const T* sp = s.data_ptr<T>();
  at::parallel_for(0, R, 1, [&](int64_t lo, int64_t hi) {
    std::vector<double> e(V);
    for (int64_t r = lo; r < hi; ++r) {
      row_exps(sp + r * V, V, mp[r], e.data());
      op[r] = pick_token(e.data(), V, up[r]);
    }
  });
}

at::Tensor inverse_cdf(const at::Tensor& scores, const at::Tensor& row_max,
                       const at::Tensor& uniforms) {
  TORCH_CHECK(scores.dim() == 2, "inverse_cdf: scores must be (rows, vocab)");
  const int64_t R = scores.size(0);
  TORCH_CHECK(row_max.dim() == 1 && row_max.scalar_type() == at::kDouble && row_max.size(0) == R,
              "inverse_cdf: row_max must be (rows,) float64");
  TORCH_CHECK(uniforms.dim() == 1 && uniforms.scalar_type() == at::kDouble &&
                  uniforms.size(0) == R,
              "inverse_cdf: uniforms must be (rows,) float64");
  const at::Tensor s = scores.contiguous();
  const at::Tensor m = row_max.contiguous();
  const at::Tensor u = uniforms.contiguous();
  at::Tensor out = at::empty({R}, s.options().dtype(at::kLong));
  const double* mp = m.data_ptr<double>();
  const double* up = u.data_ptr<double>();
  int64_t* op = out.data_ptr<int64_t>();
  switch (s.scalar_type()) {
    case at::kFloat: pick_rows<float>(s, mp, up, op); break;
    case at::kDouble: pick_rows<double>(s, mp, up, op); break;
    default: TORCH_CHECK(false, "inverse_cdf: scores must be float32 or float64");
  }
  return out;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(cdsynth_cpu, m) {
  m.def("inverse_cdf(Tensor scores, Tensor row_max, Tensor uniforms) -> Tensor");
}

TORCH_LIBRARY_IMPL(cdsynth_cpu, CPU, m) { m.impl("inverse_cdf", &inverse_cdf); }
