// One-query attention over a KV cache, for the decode step on a CPU (see cpu_attention.py).
//
// decode_attention_(q, k, v, k_cache, v_cache, valid) -> out
//   q (M, B, H, D): the new token's queries; k, v (M, B, KV, D): its keys and values, written
//   into slot end - 1 of k_cache, v_cache (M, B, KV, Lmax, D), where end = valid.size(1);
//   q, k, v and out share one dtype; the caches have it too, or are bf16 under float32
//   (bf16 storage, float32 arithmetic: where a CPU has no bf16 arithmetic);
//   valid (B, end) bool: which slots hold real tokens. Returns (M, B, H, D): softmax(q.k / sqrt(D))
//   over the valid slots, times v; query head h reads kv head h / (H / KV). Scores, softmax
//   and sums in float (double for double); one pass over K, one over V, per (m, b, h) row.
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty_like.h>
#include <c10/util/BFloat16.h>
#include <torch/library.h>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

namespace {

inline float widen(c10::BFloat16 x) {
  uint32_t bits = static_cast<uint32_t>(x.x) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}
inline float widen(float x) { return x; }
inline double widen(double x) { return x; }

// s[j] <- exp(s[j] - max) over the valid keys, 0 for the others; returns the sum
template <typename A>
A softmax_numerators(A* s, const bool* mr, int64_t end) {
  A mx = -std::numeric_limits<A>::infinity();
  for (int64_t j = 0; j < end; ++j) {
    s[j] = mr[j] ? s[j] : -std::numeric_limits<A>::infinity();
    mx = std::max(mx, s[j]);
  }
  A sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < end; ++j) {
    s[j] = std::exp(s[j] - mx);  // 0 for a masked key
    sum += s[j];
  }
  return sum;
}

// One (model, row, head) in plain loops (any D, any arithmetic type): out = the softmax-
// weighted sum of the values, divided by the sum
template <typename T, typename A>
void attend_row(const A* qa, const T* kr, const T* vr, const bool* mr, int64_t end, int64_t D,
                A scale, A* s, A* out) {
  // scores, four keys at a time (four vector sums, then four horizontal ones)
  int64_t l = 0;
  for (; l + 4 <= end; l += 4) {
    const T* k0 = kr + l * D;
    const T *k1 = k0 + D, *k2 = k1 + D, *k3 = k2 + D;
    A d0 = 0, d1 = 0, d2 = 0, d3 = 0;
#pragma omp simd reduction(+ : d0, d1, d2, d3)
    for (int64_t d = 0; d < D; ++d) {
      d0 += qa[d] * widen(k0[d]);
      d1 += qa[d] * widen(k1[d]);
      d2 += qa[d] * widen(k2[d]);
      d3 += qa[d] * widen(k3[d]);
    }
    s[l] = d0 * scale;
    s[l + 1] = d1 * scale;
    s[l + 2] = d2 * scale;
    s[l + 3] = d3 * scale;
  }
  for (; l < end; ++l) {
    const T* kl = kr + l * D;
    A dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int64_t d = 0; d < D; ++d) dot += qa[d] * widen(kl[d]);
    s[l] = dot * scale;
  }
  const A sum = softmax_numerators(s, mr, end);
  std::fill(out, out + D, A(0));
  for (int64_t j = 0; j < end; ++j) {
    if (!mr[j]) continue;
    const A p = s[j];
    const T* vl = vr + j * D;
#pragma omp simd
    for (int64_t d = 0; d < D; ++d) out[d] += p * widen(vl[d]);
  }
  for (int64_t d = 0; d < D; ++d) out[d] /= sum;
}

#if defined(__AVX512F__) || defined(__AVX2__)
// Software prefetch of `bytes` from p, a cache line at a time. The vector rows fetch the keys
// and values PF keys ahead of use (the hardware prefetcher restarts at every 4 KB page) and
// the next row's first keys while this row's values stream in, all into L2 (_MM_HINT_T1):
// in the decode step (the cache cold, behind the products) that read ~18% faster than
// fetching into L1 (T0) 64 keys ahead, under AVX2 and AVX-512 alike (BENCHMARKS.md).
constexpr int64_t PF = 32;
template <int Hint>
inline void prefetch(const void* p, int64_t bytes) {
  for (int64_t b = 0; b < bytes; b += 64)
    _mm_prefetch(static_cast<const char*>(p) + b, static_cast<_mm_hint>(Hint));
}
#endif

#if defined(__AVX512F__)
// 16 lanes of keys or values as float32
inline __m512 load16(const c10::BFloat16* p) {
  __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
inline __m512 load16(const float* p) { return _mm512_loadu_ps(p); }

// torch's own vector exp (SLEEF, exported by libtorch_cpu: what torch's softmax calls on
// this CPU); the scalar std::exp of softmax_numerators cost ~40% of a row
extern "C" __m512 Sleef_expf16_u10avx512f(__m512);

// softmax_numerators, 16 keys at a time
inline float softmax_numerators16(float* s, const bool* mr, int64_t end) {
  const float inf = std::numeric_limits<float>::infinity();
  const __m512 ninf = _mm512_set1_ps(-inf);
  __m512 vmx = ninf;
  int64_t j = 0;
  for (; j + 16 <= end; j += 16) {
    const __m512i m = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(mr + j)));
    const __m512 x = _mm512_mask_blend_ps(_mm512_test_epi32_mask(m, m), ninf, _mm512_loadu_ps(s + j));
    _mm512_storeu_ps(s + j, x);
    vmx = _mm512_max_ps(vmx, x);
  }
  float mx = _mm512_reduce_max_ps(vmx);
  for (int64_t t = j; t < end; ++t) {
    s[t] = mr[t] ? s[t] : -inf;
    mx = std::max(mx, s[t]);
  }
  const __m512 vm = _mm512_set1_ps(mx);
  __m512 vsum = _mm512_setzero_ps();
  j = 0;
  for (; j + 16 <= end; j += 16) {
    const __m512 e = Sleef_expf16_u10avx512f(_mm512_sub_ps(_mm512_loadu_ps(s + j), vm));
    _mm512_storeu_ps(s + j, e);  // 0 for a masked key
    vsum = _mm512_add_ps(vsum, e);
  }
  float sum = _mm512_reduce_add_ps(vsum);
  for (; j < end; ++j) {
    s[j] = std::exp(s[j] - mx);
    sum += s[j];
  }
  return sum;
}

// One (model, row, head) with D a multiple of 16 and at most 256: q, the accumulator and
// four keys' partial sums stay in registers.
template <typename T>
void attend_row_avx512(const float* qa, const T* kr, const T* vr, const T* next_kr,
                       const bool* mr, int64_t end, int64_t D, float scale, float* s,
                       float* out) {
  const int64_t nv = D / 16;
  __m512 q[16], acc[16];
  for (int64_t i = 0; i < nv; ++i) q[i] = _mm512_loadu_ps(qa + 16 * i);
  int64_t l = 0;
  const int64_t row_bytes = D * int64_t(sizeof(T));
  prefetch<_MM_HINT_T1>(vr, std::min(end, PF) * row_bytes);
  for (; l + 4 <= end; l += 4) {
    const T* k0 = kr + l * D;
    if (l + PF + 4 <= end) prefetch<_MM_HINT_T1>(k0 + PF * D, 4 * row_bytes);
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t i = 0; i < nv; ++i) {
      a0 = _mm512_fmadd_ps(q[i], load16(k0 + 16 * i), a0);
      a1 = _mm512_fmadd_ps(q[i], load16(k0 + D + 16 * i), a1);
      a2 = _mm512_fmadd_ps(q[i], load16(k0 + 2 * D + 16 * i), a2);
      a3 = _mm512_fmadd_ps(q[i], load16(k0 + 3 * D + 16 * i), a3);
    }
    s[l] = _mm512_reduce_add_ps(a0) * scale;
    s[l + 1] = _mm512_reduce_add_ps(a1) * scale;
    s[l + 2] = _mm512_reduce_add_ps(a2) * scale;
    s[l + 3] = _mm512_reduce_add_ps(a3) * scale;
  }
  for (; l < end; ++l) {
    __m512 a0 = _mm512_setzero_ps();
    for (int64_t i = 0; i < nv; ++i) a0 = _mm512_fmadd_ps(q[i], load16(kr + l * D + 16 * i), a0);
    s[l] = _mm512_reduce_add_ps(a0) * scale;
  }
  const float sum = softmax_numerators16(s, mr, end);
  // the next row's first keys, while this row's values stream in
  if (next_kr != nullptr) prefetch<_MM_HINT_T1>(next_kr, std::min(end, PF) * row_bytes);
  for (int64_t i = 0; i < nv; ++i) acc[i] = _mm512_setzero_ps();
  for (int64_t j = 0; j < end; ++j) {
    if (!mr[j]) continue;
    const __m512 p = _mm512_set1_ps(s[j]);
    const T* vl = vr + j * D;
    if (j + PF < end) prefetch<_MM_HINT_T1>(vl + PF * D, row_bytes);
    for (int64_t i = 0; i < nv; ++i) acc[i] = _mm512_fmadd_ps(p, load16(vl + 16 * i), acc[i]);
  }
  const __m512 inv = _mm512_set1_ps(1.0f / sum);
  for (int64_t i = 0; i < nv; ++i) _mm512_storeu_ps(out + 16 * i, _mm512_mul_ps(acc[i], inv));
}
#endif

#if defined(__AVX2__) && defined(__FMA__)
// 8 lanes of keys or values as float32
inline __m256 load8(const c10::BFloat16* p) {
  __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float hmax8(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

extern "C" __m256 Sleef_expf8_u10avx2(__m256);

// softmax_numerators, 8 keys at a time (torch's vector exp, as softmax_numerators16)
inline float softmax_numerators8(float* s, const bool* mr, int64_t end) {
  const float inf = std::numeric_limits<float>::infinity();
  const __m256 ninf = _mm256_set1_ps(-inf);
  __m256 vmx = ninf;
  int64_t j = 0;
  for (; j + 8 <= end; j += 8) {
    const __m256i m = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(mr + j)));
    const __m256 valid = _mm256_castsi256_ps(_mm256_cmpgt_epi32(m, _mm256_setzero_si256()));
    const __m256 x = _mm256_blendv_ps(ninf, _mm256_loadu_ps(s + j), valid);
    _mm256_storeu_ps(s + j, x);
    vmx = _mm256_max_ps(vmx, x);
  }
  float mx = hmax8(vmx);
  for (int64_t t = j; t < end; ++t) {
    s[t] = mr[t] ? s[t] : -inf;
    mx = std::max(mx, s[t]);
  }
  const __m256 vm = _mm256_set1_ps(mx);
  __m256 vsum = _mm256_setzero_ps();
  j = 0;
  for (; j + 8 <= end; j += 8) {
    const __m256 e = Sleef_expf8_u10avx2(_mm256_sub_ps(_mm256_loadu_ps(s + j), vm));
    _mm256_storeu_ps(s + j, e);  // 0 for a masked key
    vsum = _mm256_add_ps(vsum, e);
  }
  float sum = hsum8(vsum);
  for (; j < end; ++j) {
    s[j] = std::exp(s[j] - mx);
    sum += s[j];
  }
  return sum;
}

// Four vectors' horizontal sums, as one vector (lane i: the sum of v_i's eight lanes)
inline __m128 hsum4x8(__m256 v0, __m256 v1, __m256 v2, __m256 v3) {
  const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(v0, v1), _mm256_hadd_ps(v2, v3));
  return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

// One (model, row, head) with 8 lanes (an AVX2-only CPU: AMD Zen 2/3, Intel client chips),
// D = 8 NV: the accumulators stay in registers (NV a constant), q is read from memory (one
// FMA operand); scores four keys at a time with two partial sums each (half the FMA chain),
// and the software prefetch (without it the row read ~17 GB/s of a ~33 GB/s machine).
template <int NV, typename T>
void attend_row_avx2(const float* qa, const T* kr, const T* vr, const T* next_kr,
                     const bool* mr, int64_t end, float scale, float* s, float* out) {
  constexpr int64_t D = 8 * NV, row_bytes = D * int64_t(sizeof(T));
  const __m128 vscale = _mm_set1_ps(scale);
  int64_t l = 0;
  prefetch<_MM_HINT_T1>(vr, std::min(end, PF) * row_bytes);
  for (; l + 4 <= end; l += 4) {
    const T* k0 = kr + l * D;
    if (l + PF + 4 <= end) prefetch<_MM_HINT_T1>(k0 + PF * D, 4 * row_bytes);
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    for (int i = 0; i + 1 < NV; i += 2) {
      const __m256 q0 = _mm256_loadu_ps(qa + 8 * i), q1 = _mm256_loadu_ps(qa + 8 * i + 8);
      a0 = _mm256_fmadd_ps(q0, load8(k0 + 8 * i), a0);
      a1 = _mm256_fmadd_ps(q0, load8(k0 + D + 8 * i), a1);
      a2 = _mm256_fmadd_ps(q0, load8(k0 + 2 * D + 8 * i), a2);
      a3 = _mm256_fmadd_ps(q0, load8(k0 + 3 * D + 8 * i), a3);
      b0 = _mm256_fmadd_ps(q1, load8(k0 + 8 * i + 8), b0);
      b1 = _mm256_fmadd_ps(q1, load8(k0 + D + 8 * i + 8), b1);
      b2 = _mm256_fmadd_ps(q1, load8(k0 + 2 * D + 8 * i + 8), b2);
      b3 = _mm256_fmadd_ps(q1, load8(k0 + 3 * D + 8 * i + 8), b3);
    }
    if constexpr (NV % 2 == 1) {
      const __m256 q0 = _mm256_loadu_ps(qa + 8 * (NV - 1));
      a0 = _mm256_fmadd_ps(q0, load8(k0 + 8 * (NV - 1)), a0);
      a1 = _mm256_fmadd_ps(q0, load8(k0 + D + 8 * (NV - 1)), a1);
      a2 = _mm256_fmadd_ps(q0, load8(k0 + 2 * D + 8 * (NV - 1)), a2);
      a3 = _mm256_fmadd_ps(q0, load8(k0 + 3 * D + 8 * (NV - 1)), a3);
    }
    const __m128 dots = hsum4x8(_mm256_add_ps(a0, b0), _mm256_add_ps(a1, b1),
                                _mm256_add_ps(a2, b2), _mm256_add_ps(a3, b3));
    _mm_storeu_ps(s + l, _mm_mul_ps(dots, vscale));
  }
  for (; l < end; ++l) {
    __m256 a0 = _mm256_setzero_ps();
    for (int i = 0; i < NV; ++i)
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qa + 8 * i), load8(kr + l * D + 8 * i), a0);
    s[l] = hsum8(a0) * scale;
  }
  const float sum = softmax_numerators8(s, mr, end);
  if (next_kr != nullptr) prefetch<_MM_HINT_T1>(next_kr, std::min(end, PF) * row_bytes);
  __m256 acc[NV];
  for (int i = 0; i < NV; ++i) acc[i] = _mm256_setzero_ps();
  for (int64_t j = 0; j < end; ++j) {
    if (!mr[j]) continue;
    const __m256 p = _mm256_set1_ps(s[j]);
    const T* vl = vr + j * D;
    if (j + PF < end) prefetch<_MM_HINT_T1>(vl + PF * D, row_bytes);
    for (int i = 0; i < NV; ++i) acc[i] = _mm256_fmadd_ps(p, load8(vl + 8 * i), acc[i]);
  }
  const __m256 inv = _mm256_set1_ps(1.0f / sum);
  for (int i = 0; i < NV; ++i) _mm256_storeu_ps(out + 8 * i, _mm256_mul_ps(acc[i], inv));
}

// attend_row_avx2 for D = 8 NV, NV in 1..16; false for another D
template <typename T>
bool attend_row_avx2_any(const float* qa, const T* kr, const T* vr, const T* next_kr,
                         const bool* mr, int64_t end, int64_t D, float scale, float* s,
                         float* out) {
  if (D % 8 != 0) return false;
  switch (D / 8) {
#define CDSYNTH_ROW(NV) \
  case NV: attend_row_avx2<NV, T>(qa, kr, vr, next_kr, mr, end, scale, s, out); return true;
    CDSYNTH_ROW(1) CDSYNTH_ROW(2) CDSYNTH_ROW(3) CDSYNTH_ROW(4) CDSYNTH_ROW(5) CDSYNTH_ROW(6)
    CDSYNTH_ROW(7) CDSYNTH_ROW(8) CDSYNTH_ROW(9) CDSYNTH_ROW(10) CDSYNTH_ROW(11)
    CDSYNTH_ROW(12) CDSYNTH_ROW(13) CDSYNTH_ROW(14) CDSYNTH_ROW(15) CDSYNTH_ROW(16)
#undef CDSYNTH_ROW
    default: return false;
  }
}
#endif

// TQ: the queries' and the output's type; T: the caches'; A: the arithmetic's. One task per
// kv head of a (model, row): it writes the new token's key and value into slot end - 1
// (rounded to the cache's type, as torch's copy_ rounds), then attends that kv head's query
// heads one after the other (no other task reads the slot it writes).
template <typename TQ, typename T, typename A>
void attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, at::Tensor& kc,
            at::Tensor& vc, const at::Tensor& valid, at::Tensor& out) {
  const int64_t M = q.size(0), B = q.size(1), H = q.size(2), D = q.size(3);
  const int64_t KV = kc.size(2), Lmax = kc.size(3), end = valid.size(1);
  const int64_t rep = H / KV, vstride = valid.stride(0);
  const TQ* qp = q.data_ptr<TQ>();
  const TQ* kn = k.data_ptr<TQ>();
  const TQ* vn = v.data_ptr<TQ>();
  T* kp = kc.data_ptr<T>();
  T* vp = vc.data_ptr<T>();
  const bool* mp = valid.data_ptr<bool>();
  TQ* op = out.data_ptr<TQ>();
  const A scale = A(1) / std::sqrt(A(D));
  at::parallel_for(0, M * B * KV, 1, [&](int64_t lo, int64_t hi) {
    std::vector<A> s(end), qa(D), acc(D);
    for (int64_t g = lo; g < hi; ++g) {
      const int64_t base = g * Lmax * D;  // kv head g's slots in the caches
      T* kr = kp + base;
      T* vr = vp + base;
      for (int64_t d = 0; d < D; ++d) {
        kr[(end - 1) * D + d] = static_cast<T>(kn[g * D + d]);
        vr[(end - 1) * D + d] = static_cast<T>(vn[g * D + d]);
      }
      const bool* mr = mp + ((g / KV) % B) * vstride;
      for (int64_t j = 0; j < rep; ++j) {
        const int64_t r = g * rep + j;  // (model, row, query head)
        const TQ* qr = qp + r * D;
        for (int64_t d = 0; d < D; ++d) qa[d] = widen(qr[d]);
        // after the group's last head: the next group's first keys are prefetched
        [[maybe_unused]] const T* next_kr = j + 1 == rep && g + 1 < hi ? kr + Lmax * D : nullptr;
        bool vector_row = false;  // a vector row ran (float arithmetic, a head size it takes)
#if defined(__AVX512F__)
        if constexpr (std::is_same_v<A, float>) {
          vector_row = D % 16 == 0 && D <= 256;
          if (vector_row)
            attend_row_avx512<T>(qa.data(), kr, vr, next_kr, mr, end, D, scale, s.data(),
                                 acc.data());
        }
#elif defined(__AVX2__) && defined(__FMA__)
        if constexpr (std::is_same_v<A, float>)
          vector_row = attend_row_avx2_any<T>(qa.data(), kr, vr, next_kr, mr, end, D, scale,
                                              s.data(), acc.data());
#endif
        if (!vector_row) attend_row(qa.data(), kr, vr, mr, end, D, scale, s.data(), acc.data());
        TQ* orow = op + r * D;
        for (int64_t d = 0; d < D; ++d) orow[d] = static_cast<TQ>(acc[d]);
      }
    }
  });
}

at::Tensor decode_attention_(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                             at::Tensor& k_cache, at::Tensor& v_cache, const at::Tensor& valid) {
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && k_cache.dim() == 5, "decode_attention_: shapes");
  TORCH_CHECK(k_cache.is_contiguous() && v_cache.is_contiguous(), "caches must be contiguous");
  TORCH_CHECK(valid.scalar_type() == at::kBool && valid.stride(1) == 1, "valid: bool rows");
  const int64_t end = valid.size(1);
  TORCH_CHECK(end >= 1 && end <= k_cache.size(3), "valid.size(1) must be in [1, cache length]");
  const bool bf16_cache = q.scalar_type() == at::kFloat && k_cache.scalar_type() == at::kBFloat16;
  TORCH_CHECK(v.scalar_type() == k.scalar_type() && q.scalar_type() == k.scalar_type() &&
                  v_cache.scalar_type() == k_cache.scalar_type() &&
                  (k_cache.scalar_type() == q.scalar_type() || bf16_cache),
              "decode_attention_: q, k, v and the caches must have one dtype (or float32 with "
              "bf16 caches)");
  const at::Tensor qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
  at::Tensor out = at::empty_like(qc);
  if (bf16_cache) {
    attend<float, c10::BFloat16, float>(qc, kc, vc, k_cache, v_cache, valid, out);
    return out;
  }
  switch (q.scalar_type()) {
    case at::kBFloat16:
      attend<c10::BFloat16, c10::BFloat16, float>(qc, kc, vc, k_cache, v_cache, valid, out);
      break;
    case at::kFloat: attend<float, float, float>(qc, kc, vc, k_cache, v_cache, valid, out); break;
    case at::kDouble: attend<double, double, double>(qc, kc, vc, k_cache, v_cache, valid, out); break;
    default: TORCH_CHECK(false, "decode_attention_: bf16, fp32 or fp64 only");
  }
  return out;
}

}  // namespace

TORCH_LIBRARY(cdsynth_cpu, m) {
  m.def(
      "decode_attention_(Tensor q, Tensor k, Tensor v, Tensor(a!) k_cache, Tensor(b!) v_cache, "
      "Tensor valid) -> Tensor");
}

TORCH_LIBRARY_IMPL(cdsynth_cpu, CPU, m) { m.impl("decode_attention_", &decode_attention_); }
