// One decoding step of the plain rules on a CPU, as one op: `decoding.choose` for CD,
// No-Contrast and No-Contrast-V_head with no filter, every temperature 1 and no penalty
// (`decoding.fused_strategy` says which rules; see cpu_attention.py for the library).
//
// choose(good, bad, uniforms, strategy, alpha, lam)
//     -> (tokens, contrast, differs, vhead_size, finite, scores)
//   good (R, V) float32: GOOD's logits; bad: BAD's (R, V) float32 for CD (strategy 2), else
//   None; uniforms (R,) float64 in [0, 1); strategy 0 No-Contrast, 1 No-Contrast-V_head,
//   2 CD. Per row, in float32 as the torch ops compute them: log p = (x - max) - log(sum of
//   exp(x - max)) for GOOD (and BAD); V_head = {log p_good >= max log p_good + log(alpha)}
//   (every token for alpha = 0); scores: log p_good (0), log p_good on V_head, -inf elsewhere
//   (1), log p_good - lam log p_bad on V_head, -inf elsewhere (2, log p_good for lam = 0);
//   the token: inverse_cdf.h's pick on the scores (float64, as the inverse_cdf op). Returns
//   the tokens (int64), log p_good - log p_bad of each token (float32, zeros without BAD),
//   whether it is not GOOD's first argmax (bool), |V_head| (int64), whether GOOD's and BAD's
//   row sums are all finite ((2,) bool: NaN or infinite logits), and the scores (float32).
//
// The reference is those torch ops (decoding.choose without the op); the sums of exps run
// in another order, so a log-normalizer may differ in its last bit (as inductor's compiled
// log-softmax may from eager torch's), and with it a log-probability: a token then differs
// only where a uniform falls on a step of the CDF, or where a token's log-probability lies
// within that rounding of the V_head threshold (tests compare tokens on random logits). Each row is read from L2 a few
// times instead of ~ten passes over the whole batch, and no log-probability is written.
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <optional>
#include <tuple>
#include <vector>

#include "inverse_cdf.h"

namespace {

constexpr float NEG_INF_F = -std::numeric_limits<float>::infinity();

#if defined(__AVX512F__)
extern "C" __m512 Sleef_expf16_u10avx512f(__m512);
#elif defined(__AVX2__) && defined(__FMA__)
extern "C" __m256 Sleef_expf8_u10avx2(__m256);
#endif

// sum of exp(x[i] - m) (torch's vector exp where there is one)
float sum_exp(const float* x, int64_t V, float m) {
  int64_t i = 0;
  float sum = 0.0f;
#if defined(__AVX512F__)
  const __m512 vm = _mm512_set1_ps(m);
  __m512 acc = _mm512_setzero_ps();
  for (; i + 16 <= V; i += 16)
    acc = _mm512_add_ps(acc, Sleef_expf16_u10avx512f(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm)));
  sum = _mm512_reduce_add_ps(acc);
#elif defined(__AVX2__) && defined(__FMA__)
  const __m256 vm = _mm256_set1_ps(m);
  __m256 acc = _mm256_setzero_ps();
  for (; i + 8 <= V; i += 8)
    acc = _mm256_add_ps(acc, Sleef_expf8_u10avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm)));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc);
  for (float l : lanes) sum += l;
#endif
  for (; i < V; ++i) sum += std::exp(x[i] - m);
  return sum;
}

// a row's max, its plain sum (finite iff every entry is, short of overflow) and log-normalizer
struct Row {
  float max, sum, log_z;
};

Row row_of(const float* x, int64_t V) {
  float m = NEG_INF_F, s = 0.0f;
  int64_t i = 0;
#if defined(__AVX2__)
  __m256 m0 = _mm256_set1_ps(NEG_INF_F), m1 = m0, s0 = _mm256_setzero_ps(), s1 = s0;
  for (; i + 16 <= V; i += 16) {
    const __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
    m0 = _mm256_max_ps(m0, a);
    m1 = _mm256_max_ps(m1, b);
    s0 = _mm256_add_ps(s0, a);
    s1 = _mm256_add_ps(s1, b);
  }
  alignas(32) float lm[8], ls[8];
  _mm256_store_ps(lm, _mm256_max_ps(m0, m1));
  _mm256_store_ps(ls, _mm256_add_ps(s0, s1));
  for (int l = 0; l < 8; ++l) {
    m = std::max(m, lm[l]);
    s += ls[l];
  }
#endif
  for (; i < V; ++i) {
    m = std::max(m, x[i]);
    s += x[i];
  }
  return {m, s, std::log(sum_exp(x, V, m))};
}

int64_t first_argmax(const float* x, int64_t V, float m) {
  int64_t i = 0;
#if defined(__AVX2__)
  const __m256 vm = _mm256_set1_ps(m);
  for (; i + 8 <= V; i += 8) {
    const int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), vm, _CMP_EQ_OQ));
    if (hit != 0) return i + __builtin_ctz(hit);
  }
#endif
  for (; i < V; ++i)
    if (x[i] == m) return i;
  return 0;  // NaN logits (reported in `finite`)
}

// scores of one row (see the top of the file), their max and |V_head|. MASK: -inf outside
// V_head (V_head and CD), LAM: CD with lam != 0; thr = -inf keeps every (finite) token. The product lam * log p_bad
// and the difference are rounded apart, as the torch ops round them (the library is built
// with -ffp-contract=off: no fused multiply-add where the source has none).
template <bool MASK, bool LAM>
void score_row(const float* x, const float* y, int64_t V, Row G, Row B, float thr, float lam,
               float* s, float& s_max, int64_t& n_head) {
  float mx = NEG_INF_F;
  int64_t n = 0, i = 0;
#if defined(__AVX2__)
  const __m256 gm = _mm256_set1_ps(G.max), gz = _mm256_set1_ps(G.log_z);
  const __m256 bm = _mm256_set1_ps(B.max), bz = _mm256_set1_ps(B.log_z);
  const __m256 vthr = _mm256_set1_ps(thr), vlam = _mm256_set1_ps(lam);
  const __m256 ninf = _mm256_set1_ps(NEG_INF_F);
  __m256 vmx = ninf;
  for (; i + 8 <= V; i += 8) {
    const __m256 lp = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), gm), gz);
    const __m256 in = _mm256_cmp_ps(lp, vthr, _CMP_GE_OQ);
    __m256 sc = lp;
    if constexpr (LAM) {
      const __m256 lb = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(y + i), bm), bz);
      sc = _mm256_sub_ps(lp, _mm256_mul_ps(vlam, lb));
    }
    if constexpr (MASK) sc = _mm256_blendv_ps(ninf, sc, in);
    n += __builtin_popcount(_mm256_movemask_ps(in));
    _mm256_storeu_ps(s + i, sc);
    vmx = _mm256_max_ps(vmx, sc);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, vmx);
  for (float l : lanes) mx = std::max(mx, l);
#endif
  for (; i < V; ++i) {
    const float lp = (x[i] - G.max) - G.log_z;
    const bool in = lp >= thr;
    float sc = lp;
    if constexpr (LAM) sc = lp - lam * ((y[i] - B.max) - B.log_z);
    if constexpr (MASK) sc = in ? sc : NEG_INF_F;
    n += in;
    s[i] = sc;
    mx = std::max(mx, sc);
  }
  s_max = mx;
  n_head = n;
}

using Out = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

Out choose(const at::Tensor& good, const std::optional<at::Tensor>& bad,
           const at::Tensor& uniforms, int64_t strategy, double alpha, double lam) {
  TORCH_CHECK(good.dim() == 2 && good.scalar_type() == at::kFloat,
              "choose: good must be (rows, vocab) float32");
  TORCH_CHECK(strategy >= 0 && strategy <= 2, "choose: strategy must be 0, 1 or 2");
  TORCH_CHECK(alpha >= 0.0 && alpha <= 1.0, "choose: alpha must be in [0, 1]");
  const int64_t R = good.size(0), V = good.size(1);
  TORCH_CHECK(V > 0, "choose: the vocabulary is empty");
  const bool cd = strategy == 2;
  TORCH_CHECK(bad.has_value() == cd, "choose: BAD's logits for CD (strategy 2) only");
  TORCH_CHECK(!cd || (bad->sizes() == good.sizes() && bad->scalar_type() == at::kFloat),
              "choose: bad must have good's shape and dtype");
  TORCH_CHECK(uniforms.dim() == 1 && uniforms.size(0) == R &&
                  uniforms.scalar_type() == at::kDouble,
              "choose: uniforms must be (rows,) float64");
  const at::Tensor g = good.contiguous(), u = uniforms.contiguous();
  const at::Tensor b = cd ? bad->contiguous() : at::Tensor();
  const auto opts = g.options();
  at::Tensor tokens = at::empty({R}, opts.dtype(at::kLong));
  at::Tensor contrast = at::zeros({R}, opts);
  at::Tensor differs = at::empty({R}, opts.dtype(at::kBool));
  at::Tensor vhead = at::empty({R}, opts.dtype(at::kLong));
  at::Tensor scores = at::empty({R, V}, opts);
  std::vector<uint8_t> good_ok(R), bad_ok(R);
  const float* gp = g.data_ptr<float>();
  const float* bp = cd ? b.data_ptr<float>() : nullptr;
  const double* up = u.data_ptr<double>();
  float* sp = scores.data_ptr<float>();
  int64_t* tp = tokens.data_ptr<int64_t>();
  float* cp = contrast.data_ptr<float>();
  bool* dp = differs.data_ptr<bool>();
  int64_t* hp = vhead.data_ptr<int64_t>();
  // as the torch ops: log(alpha) and lam rounded to float32, then float32 arithmetic
  const float log_alpha = alpha > 0.0 ? static_cast<float>(std::log(alpha)) : 0.0f;
  const float flam = static_cast<float>(lam);
  at::parallel_for(0, R, 1, [&](int64_t lo, int64_t hi) {
    std::vector<double> e(V);
    for (int64_t r = lo; r < hi; ++r) {
      const float* x = gp + r * V;
      const float* y = cd ? bp + r * V : nullptr;
      float* s = sp + r * V;
      const Row G = row_of(x, V);
      const Row Bd = cd ? row_of(y, V) : Row{0.0f, 0.0f, 0.0f};
      good_ok[r] = std::isfinite(G.sum);
      bad_ok[r] = !cd || std::isfinite(Bd.sum);
      const float top = (G.max - G.max) - G.log_z;  // max of log p_good
      const float thr = alpha > 0.0 ? top + log_alpha : NEG_INF_F;
      int64_t n_head = 0;
      float s_max = NEG_INF_F;
      if (strategy == 0)
        score_row<false, false>(x, y, V, G, Bd, thr, flam, s, s_max, n_head);
      else if (!cd || lam == 0.0)  // V_head, or CD without contrast: log p_good on V_head
        score_row<true, false>(x, y, V, G, Bd, thr, flam, s, s_max, n_head);
      else
        score_row<true, true>(x, y, V, G, Bd, thr, flam, s, s_max, n_head);
      cdsynth_sample::row_exps(s, V, static_cast<double>(s_max), e.data());
      const int64_t t = cdsynth_sample::pick_token(e.data(), V, up[r]);
      tp[r] = t;
      if (cd) cp[r] = ((x[t] - G.max) - G.log_z) - ((y[t] - Bd.max) - Bd.log_z);
      dp[r] = t != first_argmax(x, V, G.max);
      hp[r] = n_head;
    }
  });
  at::Tensor finite = at::empty({2}, opts.dtype(at::kBool));
  finite.data_ptr<bool>()[0] = std::all_of(good_ok.begin(), good_ok.end(), [](uint8_t v) { return v; });
  finite.data_ptr<bool>()[1] = std::all_of(bad_ok.begin(), bad_ok.end(), [](uint8_t v) { return v; });
  return {tokens, contrast, differs, vhead, finite, scores};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(cdsynth_cpu, m) {
  m.def(
      "choose(Tensor good, Tensor? bad, Tensor uniforms, int strategy, float alpha, float lam) "
      "-> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(cdsynth_cpu, CPU, m) { m.impl("choose", &choose); }
