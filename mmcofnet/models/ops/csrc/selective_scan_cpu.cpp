// Selective scan (S6) for CPU, forward and backward, with mamba-ssm's selective_scan_fn semantics:
//
//   dt_t = softplus(delta_t + delta_bias)          (bias and softplus optional)
//   x_t  = exp(dt_t * A) * x_{t-1} + dt_t * u_t * B_t
//   out_t = (sum_n C_t[n] * x_t[n] + D * u_t) * silu(z_t)      (D and z optional)
//
// One (batch, channel) pair is an independent recurrence that runs sequentially in time,
// vectorised over the N state entries (N = 16 fills one AVX-512 register or two AVX2 registers).
// N is a compile-time constant for the usual sizes, so the state lives in registers and a step
// costs about one vector exp(). The elementwise parts (softplus of delta + bias, D u, the gate,
// their derivatives) are fused into the kernels as vectorised passes over short stretches of a
// channel's sequence.
//
// Layouts (prepared by selective_scan.py, one dtype):
//   u, delta, z, out and their gradients    [batch, dim, L], contiguous
//   A, dA                                   [dim, N], contiguous
//   variable B / C and their gradients      [batch, G, N, L]; the forward accepts any strides
//                                           with unit stride along L, the backward contiguous
//   constant B / C and their gradients      [dim, N], contiguous
//   D, delta_bias and their gradients       [dim], contiguous
// A step reads N contiguous values of B and C, so variable B / C are brought to time-major
// ([L, N] per group) first: the forward transposes one tile of steps at a time into a small
// buffer, the backward copies them whole. The constant and variable layouts then share one code
// path: a step reads B at base + l * stride with stride = 0 for the constant layout.
//
// Forward (the inference path) is cache-blocked. All dim / G channels of a group read the same
// B and C, N values each per step, i.e. N times the u / delta traffic of a channel. Scanning one
// channel over the whole sequence before the next re-reads the group's B and C (N x L values
// each: 6.5 MB at L = 102400, N = 16) once per channel, from DRAM once L is large. Instead a task
// takes a block of channels of one group and walks time in tiles of kTile steps: it transposes
// the tile of B and C into [kTile, N] buffers that stay in L1 / L2, scans every channel of the
// block across the tile, and carries each channel's state to the next tile in a [block, N]
// buffer. B and C then come from memory once per task, and per-step cost no longer grows with L.
//
// Backward recomputes the states of one channel into an [L, N] scratch buffer (400 KB for
// L = 6400, N = 16: it stays in L2) and then runs the adjoint recurrence backwards in time, so the
// forward stores nothing but its output.

#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

// exp() that GCC/Clang vectorise inside `omp simd` loops (glibc's expf is a scalar call).
// Cephes-style: x = k ln2 + r, exp(r) by a degree-6 polynomial, 2^k from the exponent bits.
// Relative error ~2e-7 on the clamped range; inputs below -87 give ~1e-38 instead of 0.
#pragma omp declare simd notinbranch
inline float vexp(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  // Round x / ln2 to the nearest integer with the 1.5 * 2^23 shifter: the integer lands in the
  // low mantissa bits, which vectorises everywhere without float->int rounding-mode games.
  constexpr float kShifter = 12582912.0f;
  float k = x * 1.44269504088896341f + kShifter;
  int32_t k_bits;
  std::memcpy(&k_bits, &k, sizeof(k_bits));
  k -= kShifter;
  const int32_t ki = k_bits - 0x4B400000;
  // r = x - k ln2 with ln2 split in two so that r stays exact.
  float r = x - k * 0.693359375f;
  r = r + k * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t scale_bits = (ki + 127) << 23;
  float scale;
  std::memcpy(&scale, &scale_bits, sizeof(scale));
  return p * scale;
}

// log(w) for normal w > 0 that vectorises like vexp (Cephes logf: w = m 2^e with m in
// [sqrt(1/2), sqrt(2)), log(m) by a polynomial). Relative error ~1e-7.
#pragma omp declare simd notinbranch
inline float vlog(float w) {
  int32_t bits;
  std::memcpy(&bits, &w, sizeof(bits));
  int32_t e = ((bits >> 23) & 0xff) - 126;  // w = m 2^e with m in [0.5, 1)
  const int32_t m_bits = (bits & 0x007fffff) | 0x3f000000;
  float m;
  std::memcpy(&m, &m_bits, sizeof(m));
  const bool below_sqrt_half = m < 0.707106781186547524f;
  e = below_sqrt_half ? e - 1 : e;
  const float x = below_sqrt_half ? m + m - 1.0f : m - 1.0f;
  const float ef = static_cast<float>(e);
  const float z = x * x;
  float y = 7.0376836292e-2f;
  y = y * x - 1.1514610310e-1f;
  y = y * x + 1.1676998740e-1f;
  y = y * x - 1.2420140846e-1f;
  y = y * x + 1.4249322787e-1f;
  y = y * x - 1.6668057665e-1f;
  y = y * x + 2.0000714765e-1f;
  y = y * x - 2.4999993993e-1f;
  y = y * x + 3.3333331174e-1f;
  y = y * x * z;
  y += -2.12194440e-4f * ef;
  y += -0.5f * z;
  return x + y + 0.693359375f * ef;
}

// float64 is for gradcheck, not speed.
#pragma omp declare simd notinbranch
inline double vexp(double x) { return std::exp(x); }
#pragma omp declare simd notinbranch
inline double vlog(double w) { return std::log(w); }

// softplus(x) = max(x, 0) + log1p(exp(-|x|)), which never overflows. log1p(t) is computed as
// log(1 + t) * t / ((1 + t) - 1), exact to rounding even for tiny t (Goldberg's trick). Equal to
// torch's softplus (whose x > 20 shortcut returns x, as this does to within rounding).
template <typename T>
inline T vsoftplus(T x) {
  const T t = vexp(x < T(0) ? x : -x);
  const T w = T(1) + t;
  const T log1p_t = w == T(1) ? t : vlog(w) * t / (w - T(1));
  return (x > T(0) ? x : T(0)) + log1p_t;
}

template <typename T>
inline T vsigmoid(T x) {
  return T(1) / (T(1) + vexp(-x));
}

// Sum of v[0:N], summed pairwise in place (a tree: log2(N) vector adds for a compile-time power
// of two N, instead of the N dependent scalar adds that strict IEEE ordering would force).
template <typename T, int NT>
inline T tree_sum(T* v, int64_t n_runtime) {
  if constexpr (NT > 0 && (NT & (NT - 1)) == 0) {
    for (int width = NT / 2; width >= 1; width /= 2) {
#pragma omp simd
      for (int n = 0; n < width; ++n) v[n] += v[n + width];
    }
    return v[0];
  } else {
    T total = 0;
    for (int64_t n = 0; n < n_runtime; ++n) total += v[n];
    return total;
  }
}

// What a kernel needs to address one (batch, channel) pair. Variable B / C are time-major
// [batch, G, L, N] in the backward (see base()); the forward reads them through StateMajor and
// uses B / C here only when constant.
template <typename T>
struct ScanArgs {
  int64_t batch, dim, length, dstate;
  int64_t n_groups;  // groups of the variable B/C (1 if both are constant)
  const T* u;
  const T* delta;
  const T* A;
  const T* B;
  const T* C;
  const T* D;           // nullptr if absent
  const T* z;           // nullptr if absent
  const T* delta_bias;  // nullptr if absent
  bool B_variable, C_variable, softplus;

  int64_t row(int64_t b, int64_t d) const { return (b * dim + d) * length; }
  int64_t group_of(int64_t d) const { return d / (dim / n_groups); }
  const T* base(const T* t, bool variable, int64_t b, int64_t d) const {
    return variable ? t + (b * n_groups + group_of(d)) * length * dstate : t + d * dstate;
  }
};

// dt[0:len] = softplus(delta[0:len] + bias) (or without softplus), vectorised over a stretch of
// the sequence before the recurrence rather than computed per step.
template <typename T>
void step_sizes(const T* delta, T bias, bool softplus, int64_t len, T* dt) {
  if (softplus) {
#pragma omp simd
    for (int64_t l = 0; l < len; ++l) dt[l] = vsoftplus(delta[l] + bias);
  } else {
#pragma omp simd
    for (int64_t l = 0; l < len; ++l) dt[l] = delta[l] + bias;
  }
}

// dt[0:L] of one whole channel.
template <typename T>
void step_sizes(const ScanArgs<T>& a, int64_t b, int64_t d, T* dt) {
  step_sizes(a.delta + a.row(b, d), a.delta_bias ? a.delta_bias[d] : T(0), a.softplus, a.length,
             dt);
}

// Steps of the forward tiles: the B and C tiles ([kTile, N] each, 32 KB together for N = 16 in
// float32) stay in L1 / L2 while every channel of a block scans across them, and a tile is long
// enough that transposing it costs little next to the scans.
constexpr int64_t kTile = 256;

// A variable B or C as the forward receives it: [batch, G, N, L] with unit stride along L and
// arbitrary other strides (VMamba's B and C are slices of one projection output; taking them as
// they are saves a copy of each).
template <typename T>
struct StateMajor {
  const T* data;
  int64_t stride_batch, stride_group, stride_state;
};

// dst[l, n] = src[b, grp, n, l0 + l] for l < len: one tile of B or C, made time-major so that a
// step reads N contiguous values.
template <typename T, int NT>
void load_tile(const StateMajor<T>& src, int64_t b, int64_t grp, int64_t l0, int64_t len,
               int64_t n_runtime, T* dst) {
  const int64_t N = NT > 0 ? NT : n_runtime;
  const T* rows = src.data + b * src.stride_batch + grp * src.stride_group + l0;
  for (int64_t n = 0; n < N; ++n) {
    const T* row = rows + n * src.stride_state;
    for (int64_t l = 0; l < len; ++l) dst[l * N + n] = row[l];
  }
}

// Forward of one channel over `len` steps of a tile: out[l] = y_l + D u_l (the gate is applied
// by the caller). `state` holds the channel's state x on entry (the end of the previous tile) and
// receives it on exit. B / C are read at Bt + l * sB (sB = N for a time-major tile, 0 for a
// constant [N] row). `terms` has room for N values (used only for a run-time N).
template <typename T, int NT>
void scan_forward_tile(const T* A_row, T* state, const T* dt, const T* u, const T* Bt, int64_t sB,
                       const T* Ct, int64_t sC, T Dd, int64_t len, int64_t n_runtime, T* out,
                       T* terms_runtime) {
  const int64_t N = NT > 0 ? NT : n_runtime;
  // For a compile-time N, local copies let the compiler keep A and x in registers for the tile.
  alignas(64) T A_local[NT > 0 ? NT : 1];
  alignas(64) T x_local[NT > 0 ? NT : 1];
  alignas(64) T terms_local[NT > 0 ? NT : 1];
  const T* A = A_row;
  T* x = state;
  T* terms = terms_runtime;
  if constexpr (NT > 0) {
    std::copy(A_row, A_row + NT, A_local);
    std::copy(state, state + NT, x_local);
    A = A_local;
    x = x_local;
    terms = terms_local;
  }
  for (int64_t l = 0; l < len; ++l) {
    const T dt_l = dt[l];
    const T dt_u = dt_l * u[l];
    const T* Bl = Bt + l * sB;
    const T* Cl = Ct + l * sC;
#pragma omp simd
    for (int64_t n = 0; n < N; ++n) {
      x[n] = vexp(dt_l * A[n]) * x[n] + dt_u * Bl[n];
      terms[n] = x[n] * Cl[n];
    }
    out[l] = tree_sum<T, NT>(terms, N) + Dd * u[l];
  }
  if constexpr (NT > 0) std::copy(x_local, x_local + NT, state);
}

// Values of per-thread scratch that scan_forward_block needs for blocks of up to `max_block`
// channels.
inline int64_t forward_scratch_size(int64_t N, int64_t max_block) {
  return 2 * kTile * N + kTile + max_block * N + N;
}

// Forward of channels [d_begin, d_end) of batch b, all in group grp: out rows and final states
// (last_state [batch, dim, N]). Time is the outer loop (tiles), channels the inner one, so the
// group's B and C are read from memory once for the whole block (see the header comment).
template <typename T, int NT>
void scan_forward_block(const ScanArgs<T>& a, const StateMajor<T>& B_src,
                        const StateMajor<T>& C_src, int64_t b, int64_t grp, int64_t d_begin,
                        int64_t d_end, T* out, T* last_state, T* scratch) {
  const int64_t N = NT > 0 ? NT : a.dstate, L = a.length;
  T* B_tile = scratch;                // [kTile, N]
  T* C_tile = B_tile + kTile * N;     // [kTile, N]
  T* dt = C_tile + kTile * N;         // [kTile]
  T* states = dt + kTile;             // [d_end - d_begin, N]: each channel's x between tiles
  T* terms = states + (d_end - d_begin) * N;  // [N]
  std::fill(states, states + (d_end - d_begin) * N, T(0));

  for (int64_t l0 = 0; l0 < L; l0 += kTile) {
    const int64_t len = std::min(kTile, L - l0);
    if (a.B_variable) load_tile<T, NT>(B_src, b, grp, l0, len, N, B_tile);
    if (a.C_variable) load_tile<T, NT>(C_src, b, grp, l0, len, N, C_tile);
    for (int64_t d = d_begin; d < d_end; ++d) {
      const int64_t row = a.row(b, d) + l0;
      const T* u = a.u + row;
      T* out_tile = out + row;
      step_sizes(a.delta + row, a.delta_bias ? a.delta_bias[d] : T(0), a.softplus, len, dt);
      scan_forward_tile<T, NT>(a.A + d * N, states + (d - d_begin) * N, dt, u,
                               a.B_variable ? B_tile : a.B + d * N, a.B_variable ? N : 0,
                               a.C_variable ? C_tile : a.C + d * N, a.C_variable ? N : 0,
                               a.D ? a.D[d] : T(0), len, N, out_tile, terms);
      if (a.z) {
        const T* z = a.z + row;
#pragma omp simd
        for (int64_t l = 0; l < len; ++l) out_tile[l] *= z[l] * vsigmoid(z[l]);
      }
    }
  }
  std::copy(states, states + (d_end - d_begin) * N, last_state + (b * a.dim + d_begin) * N);
}

// Where one channel's gradients go. dA, dD and d(delta_bias) are the channel's own rows of
// per-(batch, channel) partial sums that the host sums over the batch. Variable dB/dC point at an
// [L, N] slab owned by the task (the channels of a group add into it); constant ones at the
// channel's own [N] row of per-(batch, channel) partials.
template <typename T>
struct ChannelGrads {
  T* du;
  T* ddelta;
  T* dz;  // nullptr if z is absent
  T* dA;
  T* dB;
  T* dC;
  T* dD;           // nullptr if D is absent
  T* ddelta_bias;  // nullptr if delta_bias is absent
};

// Backward of one channel. scratch holds L * N (states) + 3 L + 5 N values.
template <typename T, int NT>
void scan_backward_channel(const ScanArgs<T>& a, int64_t b, int64_t d, const T* dout,
                           const T* dlast_state, const ChannelGrads<T>& g, T* scratch) {
  const int64_t N = NT > 0 ? NT : a.dstate, L = a.length;
  const T* u = a.u + a.row(b, d);
  const T* z = a.z ? a.z + a.row(b, d) : nullptr;
  const T* B = a.base(a.B, a.B_variable, b, d);
  const T* C = a.base(a.C, a.C_variable, b, d);
  const int64_t sB = a.B_variable ? N : 0, sC = a.C_variable ? N : 0;
  const int64_t sdB = a.B_variable ? N : 0, sdC = a.C_variable ? N : 0;
  const T Dd = a.D ? a.D[d] : T(0);
  T* xs = scratch;             // [L, N]: x_l for every step
  T* dt = scratch + L * N;     // [L]
  T* gate = dt + L;            // [L]: silu(z)
  T* gate_slope = gate + L;    // [L]: silu'(z)
  T* rest = gate_slope + L;    // 5 N for a run-time N
  alignas(64) T A_local[NT > 0 ? NT : 1];
  alignas(64) T adj_local[NT > 0 ? NT : 1];
  alignas(64) T dA_local[NT > 0 ? NT : 1];
  alignas(64) T decay_terms_local[NT > 0 ? NT : 1];
  alignas(64) T input_terms_local[NT > 0 ? NT : 1];
  T* A = NT > 0 ? A_local : rest;
  T* adj = NT > 0 ? adj_local : rest + N;
  T* dA = NT > 0 ? dA_local : rest + 2 * N;
  T* decay_terms = NT > 0 ? decay_terms_local : rest + 3 * N;
  T* input_terms = NT > 0 ? input_terms_local : rest + 4 * N;
  for (int64_t n = 0; n < N; ++n) {
    A[n] = a.A[d * N + n];
    dA[n] = T(0);
    // adj is d loss / d x_l from the steps after l, i.e. exp(dt_{l+1} A) * adjoint_{l+1}.
    adj[n] = dlast_state ? dlast_state[n] : T(0);
  }
  step_sizes(a, b, d, dt);
  if (z) {
#pragma omp simd
    for (int64_t l = 0; l < L; ++l) {
      const T s = vsigmoid(z[l]);
      gate[l] = z[l] * s;
      gate_slope[l] = s * (T(1) + z[l] * (T(1) - s));
    }
  }

  // Recompute the states. x_0 has no predecessor (x_{-1} = 0).
  for (int64_t n = 0; n < N; ++n) xs[n] = dt[0] * u[0] * B[n];
  for (int64_t l = 1; l < L; ++l) {
    const T dt_l = dt[l];
    const T dt_u = dt_l * u[l];
    const T* Bl = B + l * sB;
    const T* xprev = xs + (l - 1) * N;
    T* xl = xs + l * N;
#pragma omp simd
    for (int64_t n = 0; n < N; ++n) xl[n] = vexp(dt_l * A[n]) * xprev[n] + dt_u * Bl[n];
  }

  // Adjoint recurrence, backwards in time.
  T dD_acc = 0;
  for (int64_t l = L - 1; l >= 0; --l) {
    const T dt_l = dt[l];
    const T u_l = u[l];
    const T dt_u = dt_l * u_l;
    const T* xl = xs + l * N;
    const T* Bl = B + l * sB;
    const T* Cl = C + l * sC;
    T* dBl = g.dB + l * sdB;
    T* dCl = g.dC + l * sdC;

    T dy_l = dout[l];
    if (z) {
      // out = y * silu(z) needs y, recomputed from the stored state.
#pragma omp simd
      for (int64_t n = 0; n < N; ++n) input_terms[n] = Cl[n] * xl[n];
      const T y_l = tree_sum<T, NT>(input_terms, N) + Dd * u_l;
      g.dz[l] = dy_l * y_l * gate_slope[l];
      dy_l *= gate[l];
    }
    dD_acc += dy_l * u_l;

    // Per-state terms of d loss / d dt through the decay (h x_{l-1} exp(dt A) A) and of
    // d loss / d (dt u) (h B), summed over the states below.
    if (l > 0) {
      const T* xprev = xl - N;
#pragma omp simd
      for (int64_t n = 0; n < N; ++n) {
        const T h = adj[n] + dy_l * Cl[n];
        const T decay = vexp(dt_l * A[n]);
        const T h_x_decay = h * xprev[n] * decay;
        dCl[n] += dy_l * xl[n];
        dBl[n] += h * dt_u;
        dA[n] += h_x_decay * dt_l;
        decay_terms[n] = h_x_decay * A[n];
        input_terms[n] = h * Bl[n];
        adj[n] = h * decay;
      }
    } else {
      // x_{-1} = 0: the first decay gets no gradient and nothing propagates further back.
#pragma omp simd
      for (int64_t n = 0; n < N; ++n) {
        const T h = adj[n] + dy_l * Cl[n];
        dCl[n] += dy_l * xl[n];
        dBl[n] += h * dt_u;
        decay_terms[n] = T(0);
        input_terms[n] = h * Bl[n];
      }
    }
    const T sum_decay = tree_sum<T, NT>(decay_terms, N);
    const T sum_input = tree_sum<T, NT>(input_terms, N);
    g.du[l] = dy_l * Dd + dt_l * sum_input;
    g.ddelta[l] = sum_decay + u_l * sum_input;  // d loss / d dt, mapped to delta below
  }
  std::copy(dA, dA + N, g.dA);
  if (g.dD) *g.dD = dD_acc;

  // Through dt = softplus(delta + bias): softplus' = sigmoid.
  if (a.softplus) {
    const T* delta = a.delta + a.row(b, d);
    const T bias = a.delta_bias ? a.delta_bias[d] : T(0);
#pragma omp simd
    for (int64_t l = 0; l < L; ++l) g.ddelta[l] *= vsigmoid(delta[l] + bias);
  }
  if (g.ddelta_bias) {
    T total = 0;
    for (int64_t l = 0; l < L; ++l) total += g.ddelta[l];
    *g.ddelta_bias = total;
  }
}

template <typename T>
ScanArgs<T> make_args(const torch::Tensor& u, const torch::Tensor& delta, const torch::Tensor& A,
                      const torch::Tensor& B, const torch::Tensor& C,
                      const c10::optional<torch::Tensor>& D,
                      const c10::optional<torch::Tensor>& z,
                      const c10::optional<torch::Tensor>& delta_bias, bool delta_softplus,
                      int64_t n_groups) {
  ScanArgs<T> a;
  a.batch = u.size(0);
  a.dim = u.size(1);
  a.length = u.size(2);
  a.dstate = A.size(1);
  a.n_groups = n_groups;
  a.u = u.data_ptr<T>();
  a.delta = delta.data_ptr<T>();
  a.A = A.data_ptr<T>();
  a.B = B.data_ptr<T>();
  a.C = C.data_ptr<T>();
  a.D = D.has_value() ? D->data_ptr<T>() : nullptr;
  a.z = z.has_value() ? z->data_ptr<T>() : nullptr;
  a.delta_bias = delta_bias.has_value() ? delta_bias->data_ptr<T>() : nullptr;
  a.B_variable = B.dim() == 4;
  a.C_variable = C.dim() == 4;
  a.softplus = delta_softplus;
  return a;
}

// `required` and `optional` must be contiguous; `bc` (the forward's B and C) only need unit stride
// along L when variable ([batch, G, N, L]), constant ones ([dim, N]) must be contiguous too.
void check_inputs(const std::vector<torch::Tensor>& required,
                  const std::vector<c10::optional<torch::Tensor>>& optional,
                  const std::vector<torch::Tensor>& bc = {}) {
  std::vector<torch::Tensor> all(required);
  for (const auto& t : optional)
    if (t.has_value()) all.push_back(*t);
  const auto dtype = all.front().scalar_type();
  auto check_common = [&](const torch::Tensor& t) {
    TORCH_CHECK(t.device().is_cpu(), "selective_scan_cpu: tensors must be on the CPU");
    TORCH_CHECK(t.scalar_type() == dtype, "selective_scan_cpu: tensors must share one dtype");
  };
  for (const auto& t : all) {
    check_common(t);
    TORCH_CHECK(t.is_contiguous(), "selective_scan_cpu: tensors must be contiguous");
  }
  for (const auto& t : bc) {
    check_common(t);
    TORCH_CHECK(t.dim() == 4 ? t.stride(3) == 1 || t.size(3) == 1 : t.is_contiguous(),
                "selective_scan_cpu: variable B / C need unit stride along L, constant ones "
                "must be contiguous");
  }
}

// Below this many state updates in all, a call runs on the calling thread: waking the pool
// costs more than the work (tens of microseconds, or a scheduler time slice on a loaded machine).
constexpr int64_t kMinParallelUpdates = int64_t(1) << 16;

// Runs task(t, scratch) for t in [0, n_tasks) on torch's intra-op threads. Tasks are handed out
// one at a time from a shared counter rather than in static blocks, so a thread that the OS
// deschedules (other processes, data-loader workers) delays one small task, not half the work.
// Every thread gets its own scratch buffer of `scratch_size` values.
template <typename T, typename F>
void parallel_tasks(int64_t n_tasks, int64_t updates_per_task, int64_t scratch_size,
                    const F& task) {
  if (n_tasks * updates_per_task < kMinParallelUpdates || at::get_num_threads() == 1 ||
      at::in_parallel_region()) {
    std::vector<T> scratch(scratch_size);
    for (int64_t t = 0; t < n_tasks; ++t) task(t, scratch.data());
    return;
  }
  std::atomic<int64_t> next{0};
  const int64_t n_workers = std::min<int64_t>(n_tasks, at::get_num_threads());
  at::parallel_for(0, n_workers, 1, [&](int64_t, int64_t) {
    std::vector<T> scratch(scratch_size);
    for (int64_t t = next++; t < n_tasks; t = next++) task(t, scratch.data());
  });
}

// Layout changes of B/C and their gradients run serially: they are small next to the scan, and
// a parallel copy would cost a thread-pool round trip, which on a loaded machine can mean waiting
// a scheduler time slice for a sleeping worker.

// [batch, G, N, L] -> [batch, G, L, N]; constant [dim, N] B/C pass through.
torch::Tensor to_time_major(const torch::Tensor& t) {
  if (t.dim() != 4) return t;
  auto out = torch::empty({t.size(0), t.size(1), t.size(3), t.size(2)}, t.options());
  AT_DISPATCH_FLOATING_TYPES(t.scalar_type(), "to_time_major", [&] {
    const scalar_t* src = t.data_ptr<scalar_t>();
    scalar_t* dst = out.data_ptr<scalar_t>();
    const int64_t outer = t.size(0) * t.size(1), N = t.size(2), L = t.size(3);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t n = 0; n < N; ++n)
        for (int64_t l = 0; l < L; ++l) dst[(o * L + l) * N + n] = src[(o * N + n) * L + l];
  });
  return out;
}

// Per-task slabs [batch, G, P, L, N] summed over P into the input layout [batch, G, N, L].
torch::Tensor reduce_slabs(const torch::Tensor& slabs) {
  const int64_t batch = slabs.size(0), G = slabs.size(1), P = slabs.size(2);
  const int64_t L = slabs.size(3), N = slabs.size(4);
  auto out = torch::empty({batch, G, N, L}, slabs.options());
  AT_DISPATCH_FLOATING_TYPES(slabs.scalar_type(), "reduce_slabs", [&] {
    const scalar_t* src = slabs.data_ptr<scalar_t>();
    scalar_t* dst = out.data_ptr<scalar_t>();
    for (int64_t o = 0; o < batch * G; ++o)
      for (int64_t l = 0; l < L; ++l)
        for (int64_t n = 0; n < N; ++n) {
          scalar_t total = 0;
          for (int64_t p = 0; p < P; ++p) total += src[((o * P + p) * L + l) * N + n];
          dst[(o * N + n) * L + l] = total;
        }
  });
  return out;
}

// Calls fn.template operator()<NT>() with N as a compile-time constant when it is a usual size.
template <typename F>
void dispatch_dstate(int64_t N, F&& fn) {
  switch (N) {
    case 4: fn(std::integral_constant<int, 4>()); break;
    case 8: fn(std::integral_constant<int, 8>()); break;
    case 16: fn(std::integral_constant<int, 16>()); break;
    case 32: fn(std::integral_constant<int, 32>()); break;
    case 64: fn(std::integral_constant<int, 64>()); break;
    default: fn(std::integral_constant<int, 0>()); break;
  }
}

}  // namespace

// Returns (out [batch, dim, L], last_state [batch, dim, N]).
std::vector<torch::Tensor> selective_scan_fwd(const torch::Tensor& u, const torch::Tensor& delta,
                                              const torch::Tensor& A, const torch::Tensor& B,
                                              const torch::Tensor& C,
                                              const c10::optional<torch::Tensor>& D,
                                              const c10::optional<torch::Tensor>& z,
                                              const c10::optional<torch::Tensor>& delta_bias,
                                              bool delta_softplus, int64_t n_groups) {
  check_inputs({u, delta, A}, {D, z, delta_bias}, {B, C});
  const int64_t batch = u.size(0), dim = u.size(1), L = u.size(2), N = A.size(1);
  const int64_t per_group = dim / n_groups;
  auto out = torch::empty_like(u);
  auto last_state = torch::empty({batch, dim, N}, u.options());
  // Channel blocks per group: enough tasks for about two per thread (tasks are handed out
  // dynamically, which balances as well as more of them), but no more: every block reads the
  // group's B and C once more.
  const int64_t wanted_tasks = 2 * at::get_num_threads();
  const int64_t n_blocks =
      std::clamp<int64_t>((wanted_tasks + batch * n_groups - 1) / (batch * n_groups), 1,
                          per_group);
  const int64_t max_block = (per_group + n_blocks - 1) / n_blocks;
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "selective_scan_fwd", [&] {
    const auto a =
        make_args<scalar_t>(u, delta, A, B, C, D, z, delta_bias, delta_softplus, n_groups);
    auto state_major = [](const torch::Tensor& t) {
      return t.dim() == 4 ? StateMajor<scalar_t>{t.data_ptr<scalar_t>(), t.stride(0),
                                                  t.stride(1), t.stride(2)}
                          : StateMajor<scalar_t>{t.data_ptr<scalar_t>(), 0, 0, 0};
    };
    const auto B_src = state_major(B), C_src = state_major(C);
    scalar_t* out_ptr = out.data_ptr<scalar_t>();
    scalar_t* last_ptr = last_state.data_ptr<scalar_t>();
    dispatch_dstate(N, [&](auto nt) {
      constexpr int NT = decltype(nt)::value;
      auto block = [&](int64_t task, scalar_t* scratch) {
        const int64_t b = task / (n_groups * n_blocks);
        const int64_t grp = (task / n_blocks) % n_groups;
        const int64_t blk = task % n_blocks;
        const int64_t d_begin = grp * per_group + blk * per_group / n_blocks;
        const int64_t d_end = grp * per_group + (blk + 1) * per_group / n_blocks;
        scan_forward_block<scalar_t, NT>(a, B_src, C_src, b, grp, d_begin, d_end, out_ptr,
                                         last_ptr, scratch);
      };
      parallel_tasks<scalar_t>(batch * n_groups * n_blocks, max_block * L * N,
                               forward_scratch_size(N, max_block), block);
    });
  });
  return {out, last_state};
}

// Returns (du, ddelta, dA, dB, dC, dD, dz, ddelta_bias) in the inputs' layouts; dD, dz and
// ddelta_bias are undefined (None) when the input is absent.
// `n_parts` splits each group's channels over that many tasks (more parallelism when
// batch * G is small); each task owns one [L, N] slab per variable B/C, summed afterwards.
std::vector<torch::Tensor> selective_scan_bwd(
    const torch::Tensor& dout, const c10::optional<torch::Tensor>& dlast_state,
    const torch::Tensor& u, const torch::Tensor& delta, const torch::Tensor& A,
    const torch::Tensor& B, const torch::Tensor& C, const c10::optional<torch::Tensor>& D,
    const c10::optional<torch::Tensor>& z, const c10::optional<torch::Tensor>& delta_bias,
    bool delta_softplus, int64_t n_groups, int64_t n_parts) {
  check_inputs({dout, u, delta, A, B, C}, {dlast_state, D, z, delta_bias});
  const auto B_steps = to_time_major(B), C_steps = to_time_major(C);
  const int64_t batch = u.size(0), dim = u.size(1), L = u.size(2), N = A.size(1);
  const int64_t per_group = dim / n_groups;
  TORCH_CHECK(n_parts >= 1 && n_parts <= per_group, "selective_scan_bwd: bad n_parts");
  const bool B_variable = B.dim() == 4, C_variable = C.dim() == 4;
  const auto opts = u.options();

  auto du = torch::empty_like(u);
  auto ddelta = torch::empty_like(u);
  auto dz = z.has_value() ? torch::empty_like(u) : torch::Tensor();
  // Per-(batch, channel) partial sums, reduced over the batch at the end.
  auto dA_rows = torch::empty({batch, dim, N}, opts);
  auto dD_rows = torch::empty({batch, dim}, opts);
  auto ddelta_bias_rows = torch::empty({batch, dim}, opts);
  // Zeroed by the tasks that own them (no extra pass over memory).
  auto parts_for = [&](bool variable) {
    return variable ? torch::empty({batch, n_groups, n_parts, L, N}, opts)
                    : torch::empty({batch, dim, N}, opts);
  };
  auto dB_parts = parts_for(B_variable);
  auto dC_parts = parts_for(C_variable);

  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "selective_scan_bwd", [&] {
    const auto a =
        make_args<scalar_t>(u, delta, A, B_steps, C_steps, D, z, delta_bias, delta_softplus,
                            n_groups);
    const scalar_t* dout_ptr = dout.data_ptr<scalar_t>();
    const scalar_t* dlast_ptr =
        dlast_state.has_value() ? dlast_state->data_ptr<scalar_t>() : nullptr;
    scalar_t* du_ptr = du.data_ptr<scalar_t>();
    scalar_t* ddelta_ptr = ddelta.data_ptr<scalar_t>();
    scalar_t* dz_ptr = z.has_value() ? dz.data_ptr<scalar_t>() : nullptr;
    scalar_t* dA_ptr = dA_rows.data_ptr<scalar_t>();
    scalar_t* dD_ptr = D.has_value() ? dD_rows.data_ptr<scalar_t>() : nullptr;
    scalar_t* ddelta_bias_ptr =
        delta_bias.has_value() ? ddelta_bias_rows.data_ptr<scalar_t>() : nullptr;
    scalar_t* dB_ptr = dB_parts.data_ptr<scalar_t>();
    scalar_t* dC_ptr = dC_parts.data_ptr<scalar_t>();
    dispatch_dstate(N, [&](auto nt) {
      constexpr int NT = decltype(nt)::value;
      const int64_t n_tasks = batch * n_groups * n_parts;
      const int64_t scratch_size = L * N + 3 * L + 5 * N;
      const int64_t updates = per_group / n_parts * L * N;
      auto channels_of_task = [&](int64_t task, scalar_t* scratch) {
        const int64_t b = task / (n_groups * n_parts);
        const int64_t grp = (task / n_parts) % n_groups;
        const int64_t part = task % n_parts;
        const int64_t d_begin = grp * per_group + part * per_group / n_parts;
        const int64_t d_end = grp * per_group + (part + 1) * per_group / n_parts;
        const int64_t slab = ((b * n_groups + grp) * n_parts + part) * L * N;
        if (B_variable) std::fill(dB_ptr + slab, dB_ptr + slab + L * N, scalar_t(0));
        if (C_variable) std::fill(dC_ptr + slab, dC_ptr + slab + L * N, scalar_t(0));
        for (int64_t d = d_begin; d < d_end; ++d) {
          const int64_t row = a.row(b, d), bd = b * dim + d;
          if (!B_variable) std::fill(dB_ptr + bd * N, dB_ptr + (bd + 1) * N, scalar_t(0));
          if (!C_variable) std::fill(dC_ptr + bd * N, dC_ptr + (bd + 1) * N, scalar_t(0));
          ChannelGrads<scalar_t> g{du_ptr + row,
                                   ddelta_ptr + row,
                                   dz_ptr ? dz_ptr + row : nullptr,
                                   dA_ptr + bd * N,
                                   dB_ptr + (B_variable ? slab : bd * N),
                                   dC_ptr + (C_variable ? slab : bd * N),
                                   dD_ptr ? dD_ptr + bd : nullptr,
                                   ddelta_bias_ptr ? ddelta_bias_ptr + bd : nullptr};
          scan_backward_channel<scalar_t, NT>(a, b, d, dout_ptr + row,
                                              dlast_ptr ? dlast_ptr + bd * N : nullptr, g,
                                              scratch);
        }
      };
      parallel_tasks<scalar_t>(n_tasks, updates, scratch_size, channels_of_task);
    });
  });

  auto reduce_parts = [](const torch::Tensor& parts, bool variable) {
    return variable ? reduce_slabs(parts) : parts.sum(0);
  };
  return {du,
          ddelta,
          dA_rows.sum(0),
          reduce_parts(dB_parts, B_variable),
          reduce_parts(dC_parts, C_variable),
          D.has_value() ? dD_rows.sum(0) : torch::Tensor(),
          dz,
          delta_bias.has_value() ? ddelta_bias_rows.sum(0) : torch::Tensor()};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("fwd", &selective_scan_fwd, "Selective scan forward (CPU)");
  m.def("bwd", &selective_scan_bwd, "Selective scan backward (CPU)");
}
