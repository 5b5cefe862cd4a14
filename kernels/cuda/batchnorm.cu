// gradflow CUDA kernels: batch normalisation over x[M, C] (the op moves the feature axis last).
//
// Training forward, in one read of x for the statistics:
//   bn_stats_partial  grid (ceil(C/32), splits), 256 threads: lane = channel (a warp reads 32
//                     consecutive channels of a row: coalesced), the 8 warps stride over the rows
//                     of this split. Each thread keeps a Welford (count, mean, M2); the 8 warps'
//                     states are transposed through shared memory and merged with __shfl_xor_sync
//                     (Chan's parallel formula), one partial state per (split, channel).
//   bn_stats_finalize one warp per channel merges the split partials with shuffles and writes
//                     mean and inv_std = 1/sqrt(var + eps) (biased variance, / M).
//   bn_apply          y = (x - mean) * inv_std * gamma + beta (elementwise, grid-stride).
// Inference: bn_inference, elementwise with the running mean/var.
// Backward, fused: bn_bwd_partial reduces sum(dy) and sum(dy * xhat) per channel in the same
// layout (shuffle merge), bn_bwd_finalize writes dbeta and dgamma, and bn_bwd_dx computes
//   dx = gamma * inv_std / M * (M * dy - dbeta - xhat * dgamma)
// elementwise. Partials are merged in a fixed order, so results are deterministic (no atomics).
//
// float32 and float64 share the templates (extern "C" names carry _f32/_f64).
// Self-contained for NVRTC: no #include.

typedef long long gf_i64;

#define GF_FULL_MASK 0xffffffffu
#define GF_WARPS 8  // 256-thread blocks

__device__ __forceinline__ float gf_sqrt(float v) { return sqrtf(v); }
__device__ __forceinline__ double gf_sqrt(double v) { return sqrt(v); }

// Chan et al.: merge the Welford state (nb, mb, m2b) into (n, m, m2)
template <typename T>
__device__ __forceinline__ void gf_welford_merge(T& n, T& m, T& m2, T nb, T mb, T m2b)
{
    const T nn = n + nb;
    if (nn == T(0)) return;
    const T d = mb - m;
    const T f = nb / nn;
    m += d * f;
    m2 += m2b + d * d * n * f;
    n = nn;
}

template <typename T>
__device__ __forceinline__ void gf_welford_shfl_xor(T& n, T& m, T& m2, int lane_mask)
{
    const T nb = __shfl_xor_sync(GF_FULL_MASK, n, lane_mask);
    const T mb = __shfl_xor_sync(GF_FULL_MASK, m, lane_mask);
    const T m2b = __shfl_xor_sync(GF_FULL_MASK, m2, lane_mask);
    gf_welford_merge(n, m, m2, nb, mb, m2b);
}

// part[(split * 3 + {0,1,2}) * C + c] = (count, mean, M2) of rows [split*rows, (split+1)*rows)
template <typename T>
__device__ __forceinline__ void bn_stats_partial(const T* __restrict__ x, T* __restrict__ part, int M, int C,
                                                 int rows_per_split)
{
    __shared__ T sh[3][GF_WARPS][33];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int c = blockIdx.x * 32 + lane;
    const int split = blockIdx.y;
    const int r0 = split * rows_per_split;
    const int r1 = (M - r0 < rows_per_split) ? M : r0 + rows_per_split;
    T n = T(0), m = T(0), m2 = T(0);
    if (c < C) {
        for (int r = r0 + warp; r < r1; r += GF_WARPS) {
            const T v = x[(gf_i64)r * C + c];
            n += T(1);
            const T d = v - m;
            m += d / n;
            m2 += d * (v - m);
        }
    }
    sh[0][warp][lane] = n;
    sh[1][warp][lane] = m;
    sh[2][warp][lane] = m2;
    __syncthreads();
    // transpose: thread t merges warp t % 8's state of channel t / 8; lanes 8k..8k+7 share a channel
    const int ch = threadIdx.x / GF_WARPS, w = threadIdx.x % GF_WARPS;
    n = sh[0][w][ch];
    m = sh[1][w][ch];
    m2 = sh[2][w][ch];
#pragma unroll
    for (int off = GF_WARPS / 2; off > 0; off /= 2) gf_welford_shfl_xor(n, m, m2, off);
    const int cc = blockIdx.x * 32 + ch;
    if (w == 0 && cc < C) {
        part[((gf_i64)split * 3 + 0) * C + cc] = n;
        part[((gf_i64)split * 3 + 1) * C + cc] = m;
        part[((gf_i64)split * 3 + 2) * C + cc] = m2;
    }
}

// one warp per channel: merge the split partials, write mean and inv_std
template <typename T>
__device__ __forceinline__ void bn_stats_finalize(const T* __restrict__ part, T* __restrict__ mean,
                                                  T* __restrict__ inv_std, int splits, int C, int M, T eps)
{
    const int lane = threadIdx.x % 32;
    const int c = blockIdx.x * GF_WARPS + threadIdx.x / 32;
    T n = T(0), m = T(0), m2 = T(0);
    if (c < C)
        for (int s = lane; s < splits; s += 32)
            gf_welford_merge(n, m, m2, part[((gf_i64)s * 3 + 0) * C + c], part[((gf_i64)s * 3 + 1) * C + c],
                             part[((gf_i64)s * 3 + 2) * C + c]);
#pragma unroll
    for (int off = 16; off > 0; off /= 2) gf_welford_shfl_xor(n, m, m2, off);
    if (lane == 0 && c < C) {
        mean[c] = m;
        inv_std[c] = T(1) / gf_sqrt(m2 / T(M) + eps);
    }
}

// grid-stride loop over [0, total) with index type I: the entry points use 32-bit unsigned
// indices whenever total < 2^31 (the launcher caps the grid, so i + stride cannot wrap), which
// avoids the much slower 64-bit division in the index decomposition
#define GF_GRID_STRIDE(I, i, total)                                                                     \
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < (total); i += (I)gridDim.x * blockDim.x)

template <typename T, typename I>
__device__ __forceinline__ void bn_apply(const T* __restrict__ x, const T* __restrict__ mean,
                                         const T* __restrict__ inv_std, const T* __restrict__ gamma,
                                         const T* __restrict__ beta, T* __restrict__ y, gf_i64 total, int C)
{
    GF_GRID_STRIDE(I, i, (I)total) {
        const int c = (int)(i % (I)C);
        y[i] = (x[i] - mean[c]) * inv_std[c] * gamma[c] + beta[c];
    }
}

template <typename T, typename I>
__device__ __forceinline__ void bn_inference(const T* __restrict__ x, const T* __restrict__ gamma,
                                             const T* __restrict__ beta, const T* __restrict__ mean,
                                             const T* __restrict__ var, T* __restrict__ y, T eps, gf_i64 total,
                                             int C)
{
    GF_GRID_STRIDE(I, i, (I)total) {
        const int c = (int)(i % (I)C);
        y[i] = (x[i] - mean[c]) * (T(1) / gf_sqrt(var[c] + eps)) * gamma[c] + beta[c];
    }
}

// part[(split * 2 + 0) * C + c] = sum dy, part[(split * 2 + 1) * C + c] = sum dy * xhat
template <typename T>
__device__ __forceinline__ void bn_bwd_partial(const T* __restrict__ dy, const T* __restrict__ x,
                                               const T* __restrict__ mean, const T* __restrict__ inv_std,
                                               T* __restrict__ part, int M, int C, int rows_per_split)
{
    __shared__ T sh[2][GF_WARPS][33];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int c = blockIdx.x * 32 + lane;
    const int split = blockIdx.y;
    const int r0 = split * rows_per_split;
    const int r1 = (M - r0 < rows_per_split) ? M : r0 + rows_per_split;
    T sdy = T(0), sdyx = T(0);
    if (c < C) {
        const T mu = mean[c], is = inv_std[c];
        for (int r = r0 + warp; r < r1; r += GF_WARPS) {
            const gf_i64 i = (gf_i64)r * C + c;
            const T g = dy[i];
            sdy += g;
            sdyx += g * ((x[i] - mu) * is);
        }
    }
    sh[0][warp][lane] = sdy;
    sh[1][warp][lane] = sdyx;
    __syncthreads();
    const int ch = threadIdx.x / GF_WARPS, w = threadIdx.x % GF_WARPS;
    sdy = sh[0][w][ch];
    sdyx = sh[1][w][ch];
#pragma unroll
    for (int off = GF_WARPS / 2; off > 0; off /= 2) {
        sdy += __shfl_xor_sync(GF_FULL_MASK, sdy, off);
        sdyx += __shfl_xor_sync(GF_FULL_MASK, sdyx, off);
    }
    const int cc = blockIdx.x * 32 + ch;
    if (w == 0 && cc < C) {
        part[((gf_i64)split * 2 + 0) * C + cc] = sdy;
        part[((gf_i64)split * 2 + 1) * C + cc] = sdyx;
    }
}

template <typename T>
__device__ __forceinline__ void bn_bwd_finalize(const T* __restrict__ part, T* __restrict__ dgamma,
                                                T* __restrict__ dbeta, int splits, int C)
{
    const int lane = threadIdx.x % 32;
    const int c = blockIdx.x * GF_WARPS + threadIdx.x / 32;
    T sdy = T(0), sdyx = T(0);
    if (c < C)
        for (int s = lane; s < splits; s += 32) {
            sdy += part[((gf_i64)s * 2 + 0) * C + c];
            sdyx += part[((gf_i64)s * 2 + 1) * C + c];
        }
#pragma unroll
    for (int off = 16; off > 0; off /= 2) {
        sdy += __shfl_xor_sync(GF_FULL_MASK, sdy, off);
        sdyx += __shfl_xor_sync(GF_FULL_MASK, sdyx, off);
    }
    if (lane == 0 && c < C) {
        dbeta[c] = sdy;
        dgamma[c] = sdyx;
    }
}

template <typename T, typename I>
__device__ __forceinline__ void bn_bwd_dx(const T* __restrict__ dy, const T* __restrict__ x,
                                          const T* __restrict__ mean, const T* __restrict__ inv_std,
                                          const T* __restrict__ gamma, const T* __restrict__ dgamma,
                                          const T* __restrict__ dbeta, T* __restrict__ dx, gf_i64 total, int C,
                                          int M)
{
    const T fm = T(M);
    GF_GRID_STRIDE(I, i, (I)total) {
        const int c = (int)(i % (I)C);
        const T is = inv_std[c];
        const T xhat = (x[i] - mean[c]) * is;
        dx[i] = gamma[c] * is / fm * (fm * dy[i] - dbeta[c] - xhat * dgamma[c]);
    }
}

#define GF_BN_ENTRIES(T, SFX)                                                                           \
    extern "C" __global__ void __launch_bounds__(256) bn_stats_partial_##SFX(                           \
        const T* __restrict__ x, T* __restrict__ part, int M, int C, int rows_per_split)                \
    {                                                                                                   \
        bn_stats_partial<T>(x, part, M, C, rows_per_split);                                             \
    }                                                                                                   \
    extern "C" __global__ void __launch_bounds__(256) bn_stats_finalize_##SFX(                          \
        const T* __restrict__ part, T* __restrict__ mean, T* __restrict__ inv_std, int splits, int C,   \
        int M, T eps)                                                                                   \
    {                                                                                                   \
        bn_stats_finalize<T>(part, mean, inv_std, splits, C, M, eps);                                   \
    }                                                                                                   \
    extern "C" __global__ void __launch_bounds__(256) bn_apply_##SFX(                                   \
        const T* __restrict__ x, const T* __restrict__ mean, const T* __restrict__ inv_std,             \
        const T* __restrict__ gamma, const T* __restrict__ beta, T* __restrict__ y, gf_i64 total, int C) \
    {                                                                                                   \
        if (total < (1ll << 31)) bn_apply<T, unsigned>(x, mean, inv_std, gamma, beta, y, total, C);     \
        else bn_apply<T, gf_i64>(x, mean, inv_std, gamma, beta, y, total, C);                           \
    }                                                                                                   \
    extern "C" __global__ void __launch_bounds__(256) bn_inference_##SFX(                               \
        const T* __restrict__ x, const T* __restrict__ gamma, const T* __restrict__ beta,               \
        const T* __restrict__ mean, const T* __restrict__ var, T* __restrict__ y, T eps, gf_i64 total,  \
        int C)                                                                                          \
    {                                                                                                   \
        if (total < (1ll << 31)) bn_inference<T, unsigned>(x, gamma, beta, mean, var, y, eps, total, C); \
        else bn_inference<T, gf_i64>(x, gamma, beta, mean, var, y, eps, total, C);                      \
    }                                                                                                   \
    extern "C" __global__ void __launch_bounds__(256) bn_bwd_partial_##SFX(                             \
        const T* __restrict__ dy, const T* __restrict__ x, const T* __restrict__ mean,                  \
        const T* __restrict__ inv_std, T* __restrict__ part, int M, int C, int rows_per_split)          \
    {                                                                                                   \
        bn_bwd_partial<T>(dy, x, mean, inv_std, part, M, C, rows_per_split);                            \
    }                                                                                                   \
    extern "C" __global__ void __launch_bounds__(256) bn_bwd_finalize_##SFX(                            \
        const T* __restrict__ part, T* __restrict__ dgamma, T* __restrict__ dbeta, int splits, int C)   \
    {                                                                                                   \
        bn_bwd_finalize<T>(part, dgamma, dbeta, splits, C);                                             \
    }                                                                                                   \
    extern "C" __global__ void __launch_bounds__(256) bn_bwd_dx_##SFX(                                  \
        const T* __restrict__ dy, const T* __restrict__ x, const T* __restrict__ mean,                  \
        const T* __restrict__ inv_std, const T* __restrict__ gamma, const T* __restrict__ dgamma,       \
        const T* __restrict__ dbeta, T* __restrict__ dx, gf_i64 total, int C, int M)                    \
    {                                                                                                   \
        if (total < (1ll << 31))                                                                        \
            bn_bwd_dx<T, unsigned>(dy, x, mean, inv_std, gamma, dgamma, dbeta, dx, total, C, M);        \
        else                                                                                            \
            bn_bwd_dx<T, gf_i64>(dy, x, mean, inv_std, gamma, dgamma, dbeta, dx, total, C, M);          \
    }

GF_BN_ENTRIES(float, f32)
GF_BN_ENTRIES(double, f64)
