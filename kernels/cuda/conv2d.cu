// gradflow CUDA kernels: 2-D convolution, channels-last (x[N,H,W,C], w[KH,KW,C,F], y[N,OH,OW,F]).
//
// All three passes are implicit GEMMs: the im2col matrix is never materialised; a loader gathers
// the tile of it a block needs straight from the activation tensor (zero outside the image), and
// the shared tiled GEMM core multiplies it with the other operand:
//
//   forward          y[M=N*OH*OW, F]       = A[M, K=KH*KW*C] (gathered x)   @ w[K, F]
//   backward input   dx[M=N*H*W, C]        = A[M, K=KH*KW*F] (gathered dy)  @ B[K, C] (w, transposed per tap)
//   backward filter  dw[M=KH*KW*C, F]      = A[M, K=N*OH*OW] (gathered x^T) @ dy[K, F]
//
// GEMM core: 256 threads own a BM x BN tile of the output and march over K in BK = 8 deep slices
// kept in double-buffered shared memory (next slice fetched into registers while the current one
// is multiplied; one __syncthreads per slice); each thread owns a TM x TN register micro-tile.
// Tiles come in three shapes (128x64, 128x32, 64x64) picked by the launcher from the GEMM shape.
// Loader thread layouts are chosen so a warp's global reads walk the contiguous channel axis.
// The backward-filter GEMM has a short M x F output and a long K, so it is split over K across
// blockIdx.z into a workspace that conv2d_splitk_reduce_* sums in a fixed order (deterministic).
// The backward-input gather visits every (kh, kw) tap and zero-fills the ones the stride skips,
// which costs sh*sw times the useful MACs when the stride is > 1 (see README.md).
//
// float32 and float64 share the templates; extern "C" names carry _f32/_f64 and the tile shape.
// Self-contained for NVRTC: no #include.

typedef long long gf_i64;

#define GF_FAR (-(1 << 29))  // a coordinate offset that puts a masked row far outside the image

template <typename T>
struct alignas(16) gf_vec16 {
    T v[16 / sizeof(T)];
};

// CNT consecutive elements of shared memory into registers as 16-byte vectors
template <typename T, int CNT>
__device__ __forceinline__ void gf_load_smem(const T* p, T* out)
{
    constexpr int V = 16 / (int)sizeof(T);
    static_assert(CNT % V == 0, "a micro-tile row is whole 16-byte vectors");
#pragma unroll
    for (int q = 0; q < CNT / V; ++q) {
        gf_vec16<T> t = reinterpret_cast<const gf_vec16<T>*>(p)[q];
#pragma unroll
        for (int v = 0; v < V; ++v) out[q * V + v] = t.v[v];
    }
}

__device__ __forceinline__ bool gf_inside(int i, int n) { return (unsigned)i < (unsigned)n; }

struct ConvGeom {
    int N, H, W, C, KH, KW, F, OH, OW, sh, sw, pt, pl, dh, dw;
};

template <typename T, int BM_, int BN_, int TM_, int TN_>
struct ConvCfg {
    static constexpr int BM = BM_, BN = BN_, BK = 8, TM = TM_, TN = TN_, NT = 256, PAD = 4;
    static constexpr int LDA = BM + PAD;  // As[k][m] row (padding keeps stores conflict-free)
    static constexpr int LDB = BN + PAD;  // Bs[k][n] row
    static_assert((BM / TM) * (BN / TN) == NT, "one micro-tile per thread");
};

// ---------------------------------------------------------------------------------------------
// Loaders: fetch(k0, kend) gathers this thread's share of the BK-deep slice starting at k0 into
// registers (zero beyond kend); stash(buf) writes it to the shared tile.

// forward A[m, k] = x[n, oh*sh - pt + kh*dh, ow*sw - pl + kw*dw, c]; m = (n, oh, ow), k = (kh, kw, c)
// thread: k = tid % BK, rows tid / BK + j * NT / BK  (a warp reads 8 consecutive channels x 4 rows)
template <typename T, class Cfg>
struct FwdLoadA {
    static constexpr int R = Cfg::BM * Cfg::BK / Cfg::NT, RSTEP = Cfg::NT / Cfg::BK;
    const T* __restrict__ x;
    ConvGeom g;
    int kk, row0;
    gf_i64 base[R];
    int ih0[R], iw0[R];
    T reg[R];

    __device__ __forceinline__ void init(const T* x_, const ConvGeom& g_, int m0)
    {
        x = x_;
        g = g_;
        kk = threadIdx.x % Cfg::BK;
        row0 = threadIdx.x / Cfg::BK;
        const int M = g.N * g.OH * g.OW, plane = g.OH * g.OW;
#pragma unroll
        for (int j = 0; j < R; ++j) {
            const int m = m0 + row0 + j * RSTEP;
            if (m < M) {
                const int n = m / plane, r = m - n * plane, oh = r / g.OW, ow = r - oh * g.OW;
                base[j] = (gf_i64)n * g.H * g.W * g.C;
                ih0[j] = oh * g.sh - g.pt;
                iw0[j] = ow * g.sw - g.pl;
            } else {
                base[j] = 0;
                ih0[j] = GF_FAR;
                iw0[j] = GF_FAR;
            }
        }
    }
    __device__ __forceinline__ void fetch(int k0, int kend)
    {
        const int k = k0 + kk;
        if (k < kend) {
            const int c = k % g.C, t = k / g.C, kw = t % g.KW, kh = t / g.KW;
            const int offh = kh * g.dh, offw = kw * g.dw;
#pragma unroll
            for (int j = 0; j < R; ++j) {
                const int ih = ih0[j] + offh, iw = iw0[j] + offw;
                reg[j] = (gf_inside(ih, g.H) && gf_inside(iw, g.W))
                             ? x[base[j] + ((gf_i64)ih * g.W + iw) * g.C + c] : T(0);
            }
        } else {
#pragma unroll
            for (int j = 0; j < R; ++j) reg[j] = T(0);
        }
    }
    __device__ __forceinline__ void stash(T* As)
    {
#pragma unroll
        for (int j = 0; j < R; ++j) As[kk * Cfg::LDA + row0 + j * RSTEP] = reg[j];
    }
};

// B[k, n] = b[k * ldb + n] (row-major, ldb = number of columns); w[K, F] forward, dy[P, F] filter
// thread: n = tid % BN, rows tid / BN + j * NT / BN (a warp reads consecutive columns)
template <typename T, class Cfg>
struct RowLoadB {
    static constexpr int R = Cfg::BK * Cfg::BN / Cfg::NT, KSTEP = Cfg::NT / Cfg::BN;
    static_assert(Cfg::NT % Cfg::BN == 0 && R * KSTEP == Cfg::BK, "B slice split evenly");
    const T* __restrict__ b;
    int ldb, n, col, krow0;
    T reg[R];

    __device__ __forceinline__ void init(const T* b_, int ldb_, int n0)
    {
        b = b_;
        ldb = ldb_;
        n = threadIdx.x % Cfg::BN;
        krow0 = threadIdx.x / Cfg::BN;
        col = n0 + n;
    }
    __device__ __forceinline__ void fetch(int k0, int kend)
    {
#pragma unroll
        for (int j = 0; j < R; ++j) {
            const int k = k0 + krow0 + j * KSTEP;
            reg[j] = (col < ldb && k < kend) ? b[(gf_i64)k * ldb + col] : T(0);
        }
    }
    __device__ __forceinline__ void stash(T* Bs)
    {
#pragma unroll
        for (int j = 0; j < R; ++j) Bs[(krow0 + j * KSTEP) * Cfg::LDB + n] = reg[j];
    }
};

// backward input A[m, k] = dy[n, oh, ow, f] where ih + pt = oh*sh + kh*dh (same for w), else 0;
// m = (n, ih, iw), k = (kh, kw, f); thread layout as FwdLoadA (a warp reads consecutive f)
template <typename T, class Cfg>
struct BwdInLoadA {
    static constexpr int R = Cfg::BM * Cfg::BK / Cfg::NT, RSTEP = Cfg::NT / Cfg::BK;
    const T* __restrict__ dy;
    ConvGeom g;
    int kk, row0;
    gf_i64 base[R];
    int hp[R], wp[R];
    T reg[R];

    __device__ __forceinline__ void init(const T* dy_, const ConvGeom& g_, int m0)
    {
        dy = dy_;
        g = g_;
        kk = threadIdx.x % Cfg::BK;
        row0 = threadIdx.x / Cfg::BK;
        const int M = g.N * g.H * g.W, plane = g.H * g.W;
#pragma unroll
        for (int j = 0; j < R; ++j) {
            const int m = m0 + row0 + j * RSTEP;
            if (m < M) {
                const int n = m / plane, r = m - n * plane, ih = r / g.W, iw = r - ih * g.W;
                base[j] = (gf_i64)n * g.OH * g.OW * g.F;
                hp[j] = ih + g.pt;
                wp[j] = iw + g.pl;
            } else {
                base[j] = 0;
                hp[j] = GF_FAR;
                wp[j] = GF_FAR;
            }
        }
    }
    __device__ __forceinline__ void fetch(int k0, int kend)
    {
        const int k = k0 + kk;
        if (k < kend) {
            const int f = k % g.F, t = k / g.F, kw = t % g.KW, kh = t / g.KW;
            const int offh = kh * g.dh, offw = kw * g.dw;
#pragma unroll
            for (int j = 0; j < R; ++j) {
                const int yh = hp[j] - offh, yw = wp[j] - offw;
                const int oh = yh / g.sh, ow = yw / g.sw;
                const bool ok = yh >= 0 && yw >= 0 && oh * g.sh == yh && ow * g.sw == yw &&
                                oh < g.OH && ow < g.OW;
                reg[j] = ok ? dy[base[j] + ((gf_i64)oh * g.OW + ow) * g.F + f] : T(0);
            }
        } else {
#pragma unroll
            for (int j = 0; j < R; ++j) reg[j] = T(0);
        }
    }
    __device__ __forceinline__ void stash(T* As)
    {
#pragma unroll
        for (int j = 0; j < R; ++j) As[kk * Cfg::LDA + row0 + j * RSTEP] = reg[j];
    }
};

// backward input B[k, c] = w[kh, kw, c, f], k = (kh, kw, f)
// thread: k = tid % BK, columns tid / BK + j * NT / BK (a warp reads 8 consecutive f)
template <typename T, class Cfg>
struct BwdInLoadB {
    static constexpr int R = Cfg::BN * Cfg::BK / Cfg::NT, CSTEP = Cfg::NT / Cfg::BK;
    static_assert(R * CSTEP == Cfg::BN, "B slice split evenly");
    const T* __restrict__ w;
    int C, F, kk, col0, n0;
    T reg[R];

    __device__ __forceinline__ void init(const T* w_, const ConvGeom& g, int n0_)
    {
        w = w_;
        C = g.C;
        F = g.F;
        n0 = n0_;
        kk = threadIdx.x % Cfg::BK;
        col0 = threadIdx.x / Cfg::BK;
    }
    __device__ __forceinline__ void fetch(int k0, int kend)
    {
        const int k = k0 + kk;
        const int f = k % F, tap = k / F;
#pragma unroll
        for (int j = 0; j < R; ++j) {
            const int c = n0 + col0 + j * CSTEP;
            reg[j] = (k < kend && c < C) ? w[((gf_i64)tap * C + c) * F + f] : T(0);
        }
    }
    __device__ __forceinline__ void stash(T* Bs)
    {
#pragma unroll
        for (int j = 0; j < R; ++j) Bs[kk * Cfg::LDB + col0 + j * CSTEP] = reg[j];
    }
};

// backward filter A[m, p] = x[n, oh*sh - pt + kh*dh, ow*sw - pl + kw*dw, c]; m = (kh, kw, c), p = (n, oh, ow)
// thread: p = tid / 32, rows tid % 32 + 32 j (a warp reads 32 consecutive channels of one pixel)
template <typename T, class Cfg>
struct FiltLoadA {
    static constexpr int R = Cfg::BM / 32;
    static_assert(Cfg::NT / 32 == Cfg::BK, "one slice row per warp");
    const T* __restrict__ x;
    ConvGeom g;
    int kk, lane;
    int offh[R], offw[R], cc[R];
    T reg[R];

    __device__ __forceinline__ void init(const T* x_, const ConvGeom& g_, int m0)
    {
        x = x_;
        g = g_;
        lane = threadIdx.x % 32;
        kk = threadIdx.x / 32;
        const int M = g.KH * g.KW * g.C;
#pragma unroll
        for (int j = 0; j < R; ++j) {
            const int m = m0 + lane + 32 * j;
            if (m < M) {
                const int c = m % g.C, t = m / g.C, kw = t % g.KW, kh = t / g.KW;
                offh[j] = kh * g.dh - g.pt;
                offw[j] = kw * g.dw - g.pl;
                cc[j] = c;
            } else {
                offh[j] = GF_FAR;
                offw[j] = GF_FAR;
                cc[j] = 0;
            }
        }
    }
    __device__ __forceinline__ void fetch(int k0, int kend)
    {
        const int p = k0 + kk;
        if (p < kend) {
            const int plane = g.OH * g.OW;
            const int n = p / plane, r = p - n * plane, oh = r / g.OW, ow = r - oh * g.OW;
            const gf_i64 base = (gf_i64)n * g.H * g.W * g.C;
            const int h0 = oh * g.sh, w0 = ow * g.sw;
#pragma unroll
            for (int j = 0; j < R; ++j) {
                const int ih = h0 + offh[j], iw = w0 + offw[j];
                reg[j] = (gf_inside(ih, g.H) && gf_inside(iw, g.W))
                             ? x[base + ((gf_i64)ih * g.W + iw) * g.C + cc[j]] : T(0);
            }
        } else {
#pragma unroll
            for (int j = 0; j < R; ++j) reg[j] = T(0);
        }
    }
    __device__ __forceinline__ void stash(T* As)
    {
#pragma unroll
        for (int j = 0; j < R; ++j) As[kk * Cfg::LDA + lane + 32 * j] = reg[j];
    }
};

// ---------------------------------------------------------------------------------------------
// GEMM core and epilogue

template <typename T, class Cfg, class LA, class LB>
__device__ __forceinline__ void conv_gemm(LA& la, LB& lb, int k_begin, int k_end, T* As, T* Bs,
                                          T (&acc)[Cfg::TM][Cfg::TN])
{
    constexpr int BK = Cfg::BK, TM = Cfg::TM, TN = Cfg::TN, LDA = Cfg::LDA, LDB = Cfg::LDB;
    const int tx = threadIdx.x % (Cfg::BN / TN), ty = threadIdx.x / (Cfg::BN / TN);
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = T(0);

    const int ktiles = k_end > k_begin ? (k_end - k_begin + BK - 1) / BK : 0;
    if (ktiles == 0) return;  // uniform across the block
    la.fetch(k_begin, k_end);
    lb.fetch(k_begin, k_end);
    la.stash(As);
    lb.stash(Bs);
    __syncthreads();
    for (int t = 0; t < ktiles; ++t) {
        const int cur = t & 1;
        if (t + 1 < ktiles) {
            la.fetch(k_begin + (t + 1) * BK, k_end);
            lb.fetch(k_begin + (t + 1) * BK, k_end);
        }
        const T* as = As + cur * BK * LDA;
        const T* bs = Bs + cur * BK * LDB;
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            T a[TM], b[TN];
            gf_load_smem<T, TM>(as + kk * LDA + ty * TM, a);
            gf_load_smem<T, TN>(bs + kk * LDB + tx * TN, b);
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] += a[i] * b[j];
        }
        if (t + 1 < ktiles) {
            la.stash(As + (cur ^ 1) * BK * LDA);
            lb.stash(Bs + (cur ^ 1) * BK * LDB);
        }
        __syncthreads();
    }
}

// out[m, n] (row stride ldc) = acc (+ bias[n]) for the in-range part of the tile
template <typename T, class Cfg>
__device__ __forceinline__ void conv_store(T* __restrict__ out, int ldc, int M, int N, int m0, int n0,
                                           const T (&acc)[Cfg::TM][Cfg::TN], const T* __restrict__ bias)
{
    const int tx = threadIdx.x % (Cfg::BN / Cfg::TN), ty = threadIdx.x / (Cfg::BN / Cfg::TN);
#pragma unroll
    for (int i = 0; i < Cfg::TM; ++i) {
        const int row = m0 + ty * Cfg::TM + i;
        if (row >= M) continue;
#pragma unroll
        for (int j = 0; j < Cfg::TN; ++j) {
            const int col = n0 + tx * Cfg::TN + j;
            if (col < N) out[(gf_i64)row * ldc + col] = acc[i][j] + (bias ? bias[col] : T(0));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The three passes

template <typename T, class Cfg>
__device__ __forceinline__ void conv_fwd(const T* x, const T* w, const T* b, T* y, int has_bias,
                                         const ConvGeom& g)
{
    __shared__ __align__(16) T As[2 * Cfg::BK * Cfg::LDA];
    __shared__ __align__(16) T Bs[2 * Cfg::BK * Cfg::LDB];
    const int M = g.N * g.OH * g.OW, N = g.F, K = g.KH * g.KW * g.C;
    const int m0 = blockIdx.x * Cfg::BM, n0 = blockIdx.y * Cfg::BN;
    FwdLoadA<T, Cfg> la;
    la.init(x, g, m0);
    RowLoadB<T, Cfg> lb;
    lb.init(w, N, n0);
    T acc[Cfg::TM][Cfg::TN];
    conv_gemm<T, Cfg>(la, lb, 0, K, As, Bs, acc);
    conv_store<T, Cfg>(y, N, M, N, m0, n0, acc, has_bias ? b : nullptr);
}

template <typename T, class Cfg>
__device__ __forceinline__ void conv_bwd_input(const T* dy, const T* w, T* dx, const ConvGeom& g)
{
    __shared__ __align__(16) T As[2 * Cfg::BK * Cfg::LDA];
    __shared__ __align__(16) T Bs[2 * Cfg::BK * Cfg::LDB];
    const int M = g.N * g.H * g.W, N = g.C, K = g.KH * g.KW * g.F;
    const int m0 = blockIdx.x * Cfg::BM, n0 = blockIdx.y * Cfg::BN;
    BwdInLoadA<T, Cfg> la;
    la.init(dy, g, m0);
    BwdInLoadB<T, Cfg> lb;
    lb.init(w, g, n0);
    T acc[Cfg::TM][Cfg::TN];
    conv_gemm<T, Cfg>(la, lb, 0, K, As, Bs, acc);
    conv_store<T, Cfg>(dx, N, M, N, m0, n0, acc, (const T*)nullptr);
}

// blockIdx.z = split: pixels [z * k_chunk, (z + 1) * k_chunk) into out + z * KH*KW*C*F
template <typename T, class Cfg>
__device__ __forceinline__ void conv_bwd_filter(const T* x, const T* dy, T* out, const ConvGeom& g,
                                                int k_chunk)
{
    __shared__ __align__(16) T As[2 * Cfg::BK * Cfg::LDA];
    __shared__ __align__(16) T Bs[2 * Cfg::BK * Cfg::LDB];
    const int M = g.KH * g.KW * g.C, N = g.F, P = g.N * g.OH * g.OW;
    const int m0 = blockIdx.x * Cfg::BM, n0 = blockIdx.y * Cfg::BN;
    const int p0 = blockIdx.z * k_chunk;
    const int p1 = (P - p0 < k_chunk) ? P : p0 + k_chunk;
    FiltLoadA<T, Cfg> la;
    la.init(x, g, m0);
    RowLoadB<T, Cfg> lb;
    lb.init(dy, N, n0);
    T acc[Cfg::TM][Cfg::TN];
    conv_gemm<T, Cfg>(la, lb, p0, p1, As, Bs, acc);
    conv_store<T, Cfg>(out + (gf_i64)blockIdx.z * M * N, N, M, N, m0, n0, acc, (const T*)nullptr);
}

// out[i] = sum over splits of ws[s][i], in split order
template <typename T>
__device__ __forceinline__ void splitk_reduce(const T* __restrict__ ws, T* __restrict__ out, int splits,
                                              gf_i64 count)
{
    const gf_i64 step = (gf_i64)gridDim.x * blockDim.x;
    for (gf_i64 i = (gf_i64)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += step) {
        T s = T(0);
        for (int z = 0; z < splits; ++z) s += ws[(gf_i64)z * count + i];
        out[i] = s;
    }
}

// ---------------------------------------------------------------------------------------------
// extern "C" entry points: conv2d_{fwd,bwd_input,bwd_filter}_{f32,f64}_{128x64,128x32,64x64}
// (float32 asks for 2 resident blocks per SM, which also keeps ptxas from spilling; float64's
// 128x64 micro-tile needs more than 128 registers, so it asks for 1)

#define GF_GEOM_PARAMS                                                                              \
    int N, int H, int W, int C, int KH, int KW, int F, int OH, int OW, int sh, int sw, int pt,      \
        int pl, int dh, int dw
#define GF_GEOM ConvGeom{N, H, W, C, KH, KW, F, OH, OW, sh, sw, pt, pl, dh, dw}

#define GF_CONV_ENTRIES(T, SFX, BM, BN, TM, TN, MINB)                                               \
    extern "C" __global__ void __launch_bounds__(256, MINB) conv2d_fwd_##SFX##_##BM##x##BN(         \
        const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b,                  \
        T* __restrict__ y, int has_bias, GF_GEOM_PARAMS)                                            \
    {                                                                                               \
        conv_fwd<T, ConvCfg<T, BM, BN, TM, TN>>(x, w, b, y, has_bias, GF_GEOM);                     \
    }                                                                                               \
    extern "C" __global__ void __launch_bounds__(256, MINB) conv2d_bwd_input_##SFX##_##BM##x##BN(   \
        const T* __restrict__ dy, const T* __restrict__ w, T* __restrict__ dx, GF_GEOM_PARAMS)      \
    {                                                                                               \
        conv_bwd_input<T, ConvCfg<T, BM, BN, TM, TN>>(dy, w, dx, GF_GEOM);                          \
    }                                                                                               \
    extern "C" __global__ void __launch_bounds__(256, MINB) conv2d_bwd_filter_##SFX##_##BM##x##BN(  \
        const T* __restrict__ x, const T* __restrict__ dy, T* __restrict__ out, GF_GEOM_PARAMS,     \
        int k_chunk)                                                                                \
    {                                                                                               \
        conv_bwd_filter<T, ConvCfg<T, BM, BN, TM, TN>>(x, dy, out, GF_GEOM, k_chunk);               \
    }

GF_CONV_ENTRIES(float, f32, 128, 64, 8, 4, 2)
GF_CONV_ENTRIES(float, f32, 128, 32, 4, 4, 2)
GF_CONV_ENTRIES(float, f32, 64, 64, 4, 4, 2)
GF_CONV_ENTRIES(double, f64, 128, 64, 8, 4, 1)
GF_CONV_ENTRIES(double, f64, 128, 32, 4, 4, 1)
GF_CONV_ENTRIES(double, f64, 64, 64, 4, 4, 1)

extern "C" __global__ void __launch_bounds__(256) conv2d_splitk_reduce_f32(
    const float* __restrict__ ws, float* __restrict__ out, int splits, gf_i64 count)
{
    splitk_reduce<float>(ws, out, splits, count);
}

extern "C" __global__ void __launch_bounds__(256) conv2d_splitk_reduce_f64(
    const double* __restrict__ ws, double* __restrict__ out, int splits, gf_i64 count)
{
    splitk_reduce<double>(ws, out, splits, count);
}
