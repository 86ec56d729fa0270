// The row functions of inverse-CDF sampling (inverse_cdf.cpp says what they compute), shared
// by the inverse_cdf op and the choose op (choose.cpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
// torch's own vector exp (SLEEF, exported by libtorch_cpu; what its float64 softmax calls)
extern "C" __m256d Sleef_expd4_u10avx2(__m256d);
#endif

namespace cdsynth_sample {

constexpr double NEG_INF = -std::numeric_limits<double>::infinity();

// e[i] = exp(x[i] - m), 0 for a -inf score
template <typename T>
inline void row_exps(const T* x, int64_t V, double m, double* e) {
  int64_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
  const __m256d vm = _mm256_set1_pd(m), ninf = _mm256_set1_pd(NEG_INF);
  for (; i + 4 <= V; i += 4) {
    __m256d v;
    if constexpr (std::is_same_v<T, float>)
      v = _mm256_cvtps_pd(_mm_loadu_ps(x + i));
    else
      v = _mm256_loadu_pd(x + i);
    if (_mm256_movemask_pd(_mm256_cmp_pd(v, ninf, _CMP_NEQ_UQ)) == 0) {
      _mm256_storeu_pd(e + i, _mm256_setzero_pd());
      continue;
    }
    _mm256_storeu_pd(e + i, Sleef_expd4_u10avx2(_mm256_sub_pd(v, vm)));  // exp(-inf) = 0
  }
#endif
  for (; i < V; ++i) {
    const double v = static_cast<double>(x[i]);
    e[i] = v == NEG_INF ? 0.0 : std::exp(v - m);
  }
}

inline double block_sum(const double* e, int64_t n) {
  if (n == 4) return (e[0] + e[1]) + (e[2] + e[3]);
  double s = 0.0;
  for (int64_t l = 0; l < n; ++l) s += e[l];
  return s;
}

// the token of uniform u under the exps e (see the top of the file)
inline int64_t pick_token(const double* e, int64_t V, double u) {
  double total = 0.0;
  for (int64_t j = 0; j < V; j += 4) total += block_sum(e + j, std::min<int64_t>(4, V - j));
  const double target = u * total;
  double run = 0.0;
  for (int64_t j = 0; j < V; j += 4) {
    const int64_t n = std::min<int64_t>(4, V - j);
    const double s = block_sum(e + j, n);
    if (!(run + s > target)) {
      run += s;
      continue;
    }
    int64_t pick = -1;
    for (int64_t l = 0; l < n; ++l) {
      if (!(e[j + l] > 0.0)) continue;
      run += e[j + l];
      pick = j + l;
      if (run > target) break;
    }
    if (pick >= 0) return pick;  // (or, rounding inside the block, its last token with mass)
  }
  for (int64_t i = V - 1; i >= 0; --i)
    if (e[i] > 0.0) return i;
  return 0;
}

}  // namespace cdsynth_sample
