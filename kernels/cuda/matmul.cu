// gradflow CUDA kernels: batched matrix multiply, C[b] = A[b] @ B[b].
//
// Row-major A[M,K], B[K,N], C[M,N]; the batch index is blockIdx.z and each operand has an
// element stride between batches (0 broadcasts it). float32 and float64 share one template.
//
// SIMT path (matmul_f32 / matmul_f64): a 256-thread block owns a BM x BN tile of C and marches
// over K in BK-deep slices kept in double-buffered shared memory (the next slice is fetched into
// registers while the current one is multiplied, so one __syncthreads per slice). Each thread
// owns a TM x TN register micro-tile split into four quadrants BM/2 and BN/2 apart, so every
// shared-memory read is a 16-byte vector and a warp's reads hit distinct banks. Global loads are
// 16-byte vectors when the launcher says the operand allows it (vec flags); edge tiles are
// zero-filled, so any M, N, K works (K = 0 gives zeros).
//
// TF32 path (matmul_tf32, only when compiled with -DGRADFLOW_WMMA, sm_80+): WMMA m16n16k8
// tensor-core fragments with float accumulation; opt-in through gradflow.config.allow_tf32.
//
// Self-contained for NVRTC: no #include outside the GRADFLOW_WMMA section (<mma.h>).

typedef long long gf_i64;

// 16 bytes of T, loaded and stored as one vector instruction.
template <typename T>
struct alignas(16) gf_vec16 {
    T v[16 / sizeof(T)];
};

template <typename T, int BM_, int BN_, int BK_, int TM_, int TN_>
struct GemmCfg {
    static constexpr int BM = BM_, BN = BN_, BK = BK_, TM = TM_, TN = TN_;
    static constexpr int NT = (BM / TM) * (BN / TN);  // threads per block
    static constexpr int V = 16 / (int)sizeof(T);     // elements per 16-byte vector
    static constexpr int LDA = BM + V;                // padded row of the transposed A tile
    static constexpr int LDB = BN;
    static_assert(NT == 256, "the launcher starts 256 threads");
    static_assert(BM * BK == NT * V, "one vector of A per thread and slice");
    static_assert(BK * BN == NT * V, "one vector of B per thread and slice");
    static_assert((TM / 2) == V && (TN / 2) == V, "a quadrant row is one 16-byte vector");
};

typedef GemmCfg<float, 128, 128, 8, 8, 8> GemmF32;
typedef GemmCfg<double, 64, 64, 8, 4, 4> GemmF64;

template <typename T, class Cfg>
__device__ __forceinline__ void gemm_simt(
    const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C,
    int M, int N, int K, gf_i64 strideA, gf_i64 strideB, gf_i64 strideC,
    int vecA, int vecB, int vecC)
{
    constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, TM = Cfg::TM, TN = Cfg::TN;
    constexpr int V = Cfg::V, LDA = Cfg::LDA, LDB = Cfg::LDB;
    constexpr int HM = TM / 2, HN = TN / 2;

    __shared__ __align__(16) T As[2][BK * LDA];  // As[k][m]: A tile transposed
    __shared__ __align__(16) T Bs[2][BK * LDB];  // Bs[k][n]

    const int tid = threadIdx.x;
    const int m0 = blockIdx.x * BM;
    const int n0 = blockIdx.y * BN;
    const gf_i64 z = blockIdx.z;
    A += z * strideA;
    B += z * strideB;
    C += z * strideC;

    // loader roles: A row ar (V consecutive k from ak), B row bk (V consecutive n from bn)
    const int ar = tid / (BK / V), ak = (tid % (BK / V)) * V;
    const int bk = tid / (BN / V), bn = (tid % (BN / V)) * V;
    const int gm = m0 + ar, gn = n0 + bn;
    const T* a_row = A + (gf_i64)(gm < M ? gm : 0) * K;

    T ra[V], rb[V];

    // compute roles: quadrant rows ty*HM (+BM/2), columns tx*HN (+BN/2)
    const int tx = tid % (BN / TN), ty = tid / (BN / TN);

    T acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = T(0);

    const int ktiles = (K + BK - 1) / BK;

    auto fetch = [&](int k0) {
        const int ka = k0 + ak;
        if (gm < M && vecA && ka < K) {
            gf_vec16<T> p = *reinterpret_cast<const gf_vec16<T>*>(a_row + ka);
#pragma unroll
            for (int v = 0; v < V; ++v) ra[v] = p.v[v];
        } else {
#pragma unroll
            for (int v = 0; v < V; ++v) ra[v] = (gm < M && ka + v < K) ? a_row[ka + v] : T(0);
        }
        const int kb = k0 + bk;
        const T* b_row = B + (gf_i64)(kb < K ? kb : 0) * N;
        if (kb < K && vecB && gn < N) {
            gf_vec16<T> p = *reinterpret_cast<const gf_vec16<T>*>(b_row + gn);
#pragma unroll
            for (int v = 0; v < V; ++v) rb[v] = p.v[v];
        } else {
#pragma unroll
            for (int v = 0; v < V; ++v) rb[v] = (kb < K && gn + v < N) ? b_row[gn + v] : T(0);
        }
    };
    auto stash = [&](int buf) {
#pragma unroll
        for (int v = 0; v < V; ++v) As[buf][(ak + v) * LDA + ar] = ra[v];
        gf_vec16<T> p;
#pragma unroll
        for (int v = 0; v < V; ++v) p.v[v] = rb[v];
        *reinterpret_cast<gf_vec16<T>*>(&Bs[buf][bk * LDB + bn]) = p;
    };

    if (ktiles > 0) {
        fetch(0);
        stash(0);
    }
    __syncthreads();

    for (int t = 0; t < ktiles; ++t) {
        const int cur = t & 1;
        if (t + 1 < ktiles) fetch((t + 1) * BK);
        const T* as = As[cur];
        const T* bs = Bs[cur];
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            T a[TM], b[TN];
            gf_vec16<T> q0 = *reinterpret_cast<const gf_vec16<T>*>(as + kk * LDA + ty * HM);
            gf_vec16<T> q1 = *reinterpret_cast<const gf_vec16<T>*>(as + kk * LDA + BM / 2 + ty * HM);
            gf_vec16<T> q2 = *reinterpret_cast<const gf_vec16<T>*>(bs + kk * LDB + tx * HN);
            gf_vec16<T> q3 = *reinterpret_cast<const gf_vec16<T>*>(bs + kk * LDB + BN / 2 + tx * HN);
#pragma unroll
            for (int v = 0; v < V; ++v) {
                a[v] = q0.v[v];
                a[HM + v] = q1.v[v];
                b[v] = q2.v[v];
                b[HN + v] = q3.v[v];
            }
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] += a[i] * b[j];
        }
        if (t + 1 < ktiles) stash(cur ^ 1);
        __syncthreads();
    }

#pragma unroll
    for (int qi = 0; qi < 2; ++qi) {
#pragma unroll
        for (int i = 0; i < HM; ++i) {
            const int row = m0 + qi * (BM / 2) + ty * HM + i;
            if (row >= M) continue;
            T* c_row = C + (gf_i64)row * N;
#pragma unroll
            for (int qj = 0; qj < 2; ++qj) {
                const int col = n0 + qj * (BN / 2) + tx * HN;
                const T* src = &acc[qi * HM + i][qj * HN];
                if (vecC && col + HN <= N) {
                    gf_vec16<T> p;
#pragma unroll
                    for (int v = 0; v < V; ++v) p.v[v] = src[v];
                    *reinterpret_cast<gf_vec16<T>*>(c_row + col) = p;
                } else {
#pragma unroll
                    for (int j = 0; j < HN; ++j)
                        if (col + j < N) c_row[col + j] = src[j];
                }
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(256) matmul_f32(
    const float* __restrict__ A, const float* __restrict__ B, float* __restrict__ C,
    int M, int N, int K, gf_i64 strideA, gf_i64 strideB, gf_i64 strideC,
    int vecA, int vecB, int vecC)
{
    gemm_simt<float, GemmF32>(A, B, C, M, N, K, strideA, strideB, strideC, vecA, vecB, vecC);
}

extern "C" __global__ void __launch_bounds__(256) matmul_f64(
    const double* __restrict__ A, const double* __restrict__ B, double* __restrict__ C,
    int M, int N, int K, gf_i64 strideA, gf_i64 strideB, gf_i64 strideC,
    int vecA, int vecB, int vecC)
{
    gemm_simt<double, GemmF64>(A, B, C, M, N, K, strideA, strideB, strideC, vecA, vecB, vecC);
}

#if defined(GRADFLOW_WMMA)
#include <mma.h>

// TF32 tensor cores: a 256-thread block (8 warps as 2 x 4) owns a 128 x 128 tile of C; each warp
// owns 64 x 32 = 4 x 2 fragments of 16 x 16. K advances 16 at a time (two m16n16k8 steps); the next
// slice is prefetched into registers during the MMAs. Inputs are rounded to TF32 (10-bit mantissa)
// when the fragments are loaded; accumulation is float32. Edge tiles are zero-filled and the
// epilogue stages each fragment through shared memory to store only in-range elements.
extern "C" __global__ void __launch_bounds__(256) matmul_tf32(
    const float* __restrict__ A, const float* __restrict__ B, float* __restrict__ C,
    int M, int N, int K, gf_i64 strideA, gf_i64 strideB, gf_i64 strideC,
    int vecA, int vecB, int vecC)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    namespace wmma = nvcuda::wmma;
    constexpr int BM = 128, BN = 128, BK = 16;
    constexpr int LDA = BK + 4;  // As[m][k]; ldm multiple of 4, rows 16 apart stay 32-byte aligned
    constexpr int LDB = BN + 4;  // Bs[k][n]
    __shared__ __align__(128) float As[BM * LDA];
    __shared__ __align__(128) float Bs[BK * LDB];
    __shared__ __align__(128) float Cs[8][16 * 16];

    const int tid = threadIdx.x;
    const int warp = tid / 32, lane = tid % 32;
    const int wm = warp / 4, wn = warp % 4;
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
    const gf_i64 z = blockIdx.z;
    A += z * strideA;
    B += z * strideB;
    C += z * strideC;
    (void)vecC;

    wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[4][2];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

    float ra[2][4], rb[2][4];
    auto fetch = [&](int k0) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int idx = tid + h * 256;
            const int r = idx / 4, kc = (idx % 4) * 4;  // A: 128 rows x 4 vectors
            const int gm = m0 + r, gk = k0 + kc;
            const float* ap = A + (gf_i64)(gm < M ? gm : 0) * K;
            if (gm < M && vecA && gk < K) {
                gf_vec16<float> p = *reinterpret_cast<const gf_vec16<float>*>(ap + gk);
#pragma unroll
                for (int v = 0; v < 4; ++v) ra[h][v] = p.v[v];
            } else {
#pragma unroll
                for (int v = 0; v < 4; ++v) ra[h][v] = (gm < M && gk + v < K) ? ap[gk + v] : 0.0f;
            }
            const int kr = idx / 32, nc = (idx % 32) * 4;  // B: 16 rows x 32 vectors
            const int gkb = k0 + kr, gn = n0 + nc;
            const float* bp = B + (gf_i64)(gkb < K ? gkb : 0) * N;
            if (gkb < K && vecB && gn < N) {
                gf_vec16<float> p = *reinterpret_cast<const gf_vec16<float>*>(bp + gn);
#pragma unroll
                for (int v = 0; v < 4; ++v) rb[h][v] = p.v[v];
            } else {
#pragma unroll
                for (int v = 0; v < 4; ++v) rb[h][v] = (gkb < K && gn + v < N) ? bp[gn + v] : 0.0f;
            }
        }
    };
    auto stash = [&]() {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int idx = tid + h * 256;
            gf_vec16<float> pa, pb;
#pragma unroll
            for (int v = 0; v < 4; ++v) {
                pa.v[v] = ra[h][v];
                pb.v[v] = rb[h][v];
            }
            *reinterpret_cast<gf_vec16<float>*>(&As[(idx / 4) * LDA + (idx % 4) * 4]) = pa;
            *reinterpret_cast<gf_vec16<float>*>(&Bs[(idx / 32) * LDB + (idx % 32) * 4]) = pb;
        }
    };

    const int ktiles = (K + BK - 1) / BK;
    if (ktiles > 0) fetch(0);
    for (int t = 0; t < ktiles; ++t) {
        stash();
        __syncthreads();
        if (t + 1 < ktiles) fetch((t + 1) * BK);
#pragma unroll
        for (int kk = 0; kk < BK; kk += 8) {
            wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa[4];
            wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fb[2];
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                wmma::load_matrix_sync(fa[i], As + (wm * 64 + i * 16) * LDA + kk, LDA);
#pragma unroll
                for (int e = 0; e < fa[i].num_elements; ++e) fa[i].x[e] = wmma::__float_to_tf32(fa[i].x[e]);
            }
#pragma unroll
            for (int j = 0; j < 2; ++j) {
                wmma::load_matrix_sync(fb[j], Bs + kk * LDB + wn * 32 + j * 16, LDB);
#pragma unroll
                for (int e = 0; e < fb[j].num_elements; ++e) fb[j].x[e] = wmma::__float_to_tf32(fb[j].x[e]);
            }
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
        __syncthreads();
    }

    float* stage = Cs[warp];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j < 2; ++j) {
            wmma::store_matrix_sync(stage, acc[i][j], 16, wmma::mem_row_major);
            __syncwarp();
            for (int e = lane; e < 256; e += 32) {
                const int row = m0 + wm * 64 + i * 16 + e / 16;
                const int col = n0 + wn * 32 + j * 16 + e % 16;
                if (row < M && col < N) C[(gf_i64)row * N + col] = stage[e];
            }
            __syncwarp();
        }
    }
#else
    __trap();  // the launcher only selects this kernel on sm_80+
#endif
}
#endif  // GRADFLOW_WMMA
