// Inverse-CDF sampling from scores on a CPU: `decoding.sample`'s softmax, cumulative sum and
// search in one pass per row (see cpu_attention.py).
//
// inverse_cdf(scores, row_max, uniforms) -> tokens
//   scores (R, V) float32 or float64, -inf for tokens left out; row_max (R,) float64, each
//   row's max; uniforms (R,) float64 in [0, 1). In float64, e_i = exp(scores_i - row_max)
//   (0 for -inf) and c_k = e_0 + ... + e_k, added left to right. Row r returns the first k
//   with c_k > uniforms[r] * c_{V-1}, else (rounding at the very top) the last k with
//   e_k > 0, else 0: int64 (R,).
//
// The reference divides by the sum first (a softmax) and takes ATen's cumsum: the same
// numbers up to float64 rounding (a token differs only where a uniform falls within ~1e-16
// of a step of the CDF; tests compare tokens). A -inf score adds exactly 0, so its exp is
// never computed: under a V_head cut a row costs a read of its scores and a few exps,
// instead of a float64 exp, a division, a cumsum's write and a search over the vocabulary.
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
// torch's own vector exp (SLEEF, exported by libtorch_cpu; what its float64 softmax calls)
extern "C" __m256d Sleef_expd4_u10avx2(__m256d);
#endif

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

namespace {

// the exps of one row's finite scores with their running sums, left to right
struct Exps {
  std::vector<double> sums;  // c at each finite score
  std::vector<int64_t> at;   // that score's index
  double total = 0.0;
  int64_t last = 0;  // the last index with e > 0

  void clear() {
    sums.clear();
    at.clear();
    total = 0.0;
    last = 0;
  }
  void add(double e, int64_t i) {
    total += e;
    sums.push_back(total);
    at.push_back(i);
    if (e > 0.0) last = i;
  }
};

constexpr double NEG_INF = -std::numeric_limits<double>::infinity();

template <typename T>
void row_exps(const T* x, int64_t V, double m, Exps& ex) {
  int64_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
  // four scores at a time; a block of -inf scores (most of a V_head cut) costs one compare
  const __m256d vm = _mm256_set1_pd(m), ninf = _mm256_set1_pd(NEG_INF);
  alignas(32) double e[4];
  for (; i + 4 <= V; i += 4) {
    __m256d v;
    if constexpr (std::is_same_v<T, float>)
      v = _mm256_cvtps_pd(_mm_loadu_ps(x + i));
    else
      v = _mm256_loadu_pd(x + i);
    const int finite = _mm256_movemask_pd(_mm256_cmp_pd(v, ninf, _CMP_NEQ_UQ));
    if (finite == 0) continue;
    _mm256_store_pd(e, Sleef_expd4_u10avx2(_mm256_sub_pd(v, vm)));
    for (int l = 0; l < 4; ++l)
      if (finite >> l & 1) ex.add(e[l], i + l);
  }
#endif
  for (; i < V; ++i) {
    const double v = static_cast<double>(x[i]);
    if (v != NEG_INF) ex.add(std::exp(v - m), i);
  }
}

template <typename T>
void pick_rows(const at::Tensor& s, const double* mp, const double* up, int64_t* op) {
  const int64_t R = s.size(0), V = s.size(1);
  const T* sp = s.data_ptr<T>();
  at::parallel_for(0, R, 1, [&](int64_t lo, int64_t hi) {
    Exps ex;
    for (int64_t r = lo; r < hi; ++r) {
      ex.clear();
      row_exps(sp + r * V, V, mp[r], ex);
      const double target = up[r] * ex.total;
      int64_t pick = ex.last;
      for (size_t j = 0; j < ex.sums.size(); ++j)
        if (ex.sums[j] > target) {
          pick = ex.at[j];
          break;
        }
      op[r] = pick;
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
