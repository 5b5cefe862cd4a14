// gradflow CUDA kernels: 2-D max and average pooling, channels-last (x[N,H,W,C] -> y[N,OH,OW,C]).
//
// One thread per output element (forward) or per input element (backward), in grid-stride loops
// with 64-bit indices; the channel axis is the fastest, so a warp's reads and writes are coalesced.
//
// Max forward keeps the first in-bounds cell of each window in row-major order and replaces it
// only by a strictly larger value, so ties go to the first cell and padded cells never win; argmax
// is the flat index h*W + w into the input plane of that (n, c) (int64), -1 for a window with no
// in-bounds cell (whose y is -inf).
// Both backward passes gather instead of scattering: each input cell sums the dy of the windows
// that contain it (max: those whose argmax is this cell; avg: dy / that window's in-bounds count),
// in a fixed order, so they need no atomics, no zero-fill pass, and are deterministic.
// Average pooling divides by the number of in-bounds cells (padding not counted, as Keras/TF).
//
// float32 and float64 share the templates (extern "C" names carry _f32/_f64).
// Self-contained for NVRTC: no #include.

typedef long long gf_i64;

template <typename T> __device__ __forceinline__ T gf_neg_inf();
template <> __device__ __forceinline__ float gf_neg_inf<float>() { return __int_as_float((int)0xff800000u); }
template <> __device__ __forceinline__ double gf_neg_inf<double>()
{
    return __longlong_as_double((long long)0xfff0000000000000ull);
}

struct PoolGeom {
    int N, H, W, C, OH, OW, ph, pw, sh, sw, pt, pl;
};

__device__ __forceinline__ int gf_max(int a, int b) { return a > b ? a : b; }
__device__ __forceinline__ int gf_min(int a, int b) { return a < b ? a : b; }

// first and last (inclusive) output row whose window [o*s - p, o*s - p + k) contains input row i
__device__ __forceinline__ void gf_windows_of(int i, int pad, int k, int s, int out, int& lo, int& hi)
{
    const int ip = i + pad;
    lo = ip < k ? 0 : (ip - k) / s + 1;
    hi = gf_min(out - 1, ip / s);
}

// grid-stride loop over [0, total) with index type I: the entry points use 32-bit unsigned
// indices whenever total < 2^31 (the launcher caps the grid, so i + stride cannot wrap), which
// avoids the much slower 64-bit division in the index decomposition
#define GF_GRID_STRIDE(I, i, total)                                                                 \
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < (total); i += (I)gridDim.x * blockDim.x)

template <typename T, typename I>
__device__ __forceinline__ void maxpool_fwd(const T* __restrict__ x, T* __restrict__ y,
                                            gf_i64* __restrict__ argmax, const PoolGeom& g)
{
    const I total = (I)g.N * g.OH * g.OW * g.C;
    GF_GRID_STRIDE(I, idx, total) {
        const int c = (int)(idx % (I)g.C);
        I t = idx / (I)g.C;
        const int ow = (int)(t % (I)g.OW);
        t /= (I)g.OW;
        const int oh = (int)(t % (I)g.OH);
        const int n = (int)(t / (I)g.OH);
        const int h0 = oh * g.sh - g.pt, w0 = ow * g.sw - g.pl;
        const T* plane = x + (gf_i64)n * g.H * g.W * g.C + c;
        T best = gf_neg_inf<T>();
        gf_i64 where = -1;
        for (int i = 0; i < g.ph; ++i) {
            const int h = h0 + i;
            if (h < 0 || h >= g.H) continue;
            for (int j = 0; j < g.pw; ++j) {
                const int w = w0 + j;
                if (w < 0 || w >= g.W) continue;
                const T v = plane[((gf_i64)h * g.W + w) * g.C];
                if (where < 0 || v > best) {
                    best = v;
                    where = (gf_i64)h * g.W + w;
                }
            }
        }
        y[idx] = best;
        argmax[idx] = where;
    }
}

template <typename T, typename I>
__device__ __forceinline__ void maxpool_bwd(const T* __restrict__ dy, const gf_i64* __restrict__ argmax,
                                            T* __restrict__ dx, const PoolGeom& g)
{
    const I total = (I)g.N * g.H * g.W * g.C;
    GF_GRID_STRIDE(I, idx, total) {
        const int c = (int)(idx % (I)g.C);
        I t = idx / (I)g.C;
        const int w = (int)(t % (I)g.W);
        t /= (I)g.W;
        const int h = (int)(t % (I)g.H);
        const int n = (int)(t / (I)g.H);
        int oh0, oh1, ow0, ow1;
        gf_windows_of(h, g.pt, g.ph, g.sh, g.OH, oh0, oh1);
        gf_windows_of(w, g.pl, g.pw, g.sw, g.OW, ow0, ow1);
        const gf_i64 me = (gf_i64)h * g.W + w;
        const gf_i64 obase = (gf_i64)n * g.OH * g.OW * g.C + c;
        T s = T(0);
        for (int oh = oh0; oh <= oh1; ++oh)
            for (int ow = ow0; ow <= ow1; ++ow) {
                const gf_i64 o = obase + ((gf_i64)oh * g.OW + ow) * g.C;
                if (argmax[o] == me) s += dy[o];
            }
        dx[idx] = s;
    }
}

// number of in-bounds cells of the window starting at (h0, w0)
__device__ __forceinline__ int gf_window_count(int h0, int w0, const PoolGeom& g)
{
    const int rows = gf_min(h0 + g.ph, g.H) - gf_max(h0, 0);
    const int cols = gf_min(w0 + g.pw, g.W) - gf_max(w0, 0);
    return (rows > 0 && cols > 0) ? rows * cols : 0;
}

template <typename T, typename I>
__device__ __forceinline__ void avgpool_fwd(const T* __restrict__ x, T* __restrict__ y, const PoolGeom& g)
{
    const I total = (I)g.N * g.OH * g.OW * g.C;
    GF_GRID_STRIDE(I, idx, total) {
        const int c = (int)(idx % (I)g.C);
        I t = idx / (I)g.C;
        const int ow = (int)(t % (I)g.OW);
        t /= (I)g.OW;
        const int oh = (int)(t % (I)g.OH);
        const int n = (int)(t / (I)g.OH);
        const int h0 = oh * g.sh - g.pt, w0 = ow * g.sw - g.pl;
        const T* plane = x + (gf_i64)n * g.H * g.W * g.C + c;
        const int hb = gf_max(h0, 0), he = gf_min(h0 + g.ph, g.H);
        const int wb = gf_max(w0, 0), we = gf_min(w0 + g.pw, g.W);
        T s = T(0);
        for (int h = hb; h < he; ++h)
            for (int w = wb; w < we; ++w) s += plane[((gf_i64)h * g.W + w) * g.C];
        const int cnt = gf_window_count(h0, w0, g);
        y[idx] = cnt > 0 ? s / T(cnt) : T(0);
    }
}

template <typename T, typename I>
__device__ __forceinline__ void avgpool_bwd(const T* __restrict__ dy, T* __restrict__ dx, const PoolGeom& g)
{
    const I total = (I)g.N * g.H * g.W * g.C;
    GF_GRID_STRIDE(I, idx, total) {
        const int c = (int)(idx % (I)g.C);
        I t = idx / (I)g.C;
        const int w = (int)(t % (I)g.W);
        t /= (I)g.W;
        const int h = (int)(t % (I)g.H);
        const int n = (int)(t / (I)g.H);
        int oh0, oh1, ow0, ow1;
        gf_windows_of(h, g.pt, g.ph, g.sh, g.OH, oh0, oh1);
        gf_windows_of(w, g.pl, g.pw, g.sw, g.OW, ow0, ow1);
        const gf_i64 obase = (gf_i64)n * g.OH * g.OW * g.C + c;
        T s = T(0);
        for (int oh = oh0; oh <= oh1; ++oh)
            for (int ow = ow0; ow <= ow1; ++ow) {
                const int cnt = gf_window_count(oh * g.sh - g.pt, ow * g.sw - g.pl, g);
                s += dy[obase + ((gf_i64)oh * g.OW + ow) * g.C] / T(cnt);  // cnt >= 1: (h, w) is in it
            }
        dx[idx] = s;
    }
}

#define GF_POOL_PARAMS                                                                              \
    int N, int H, int W, int C, int OH, int OW, int ph, int pw, int sh, int sw, int pt, int pl
#define GF_POOL_GEOM PoolGeom{N, H, W, C, OH, OW, ph, pw, sh, sw, pt, pl}
// 32-bit indices when both the input and the output have fewer than 2^31 elements
#define GF_SMALL ((gf_i64)N * H * W * C < (1ll << 31) && (gf_i64)N * OH * OW * C < (1ll << 31))

#define GF_POOL_ENTRIES(T, SFX)                                                                     \
    extern "C" __global__ void __launch_bounds__(256) maxpool_fwd_##SFX(                            \
        const T* __restrict__ x, T* __restrict__ y, gf_i64* __restrict__ argmax, GF_POOL_PARAMS)    \
    {                                                                                               \
        if (GF_SMALL) maxpool_fwd<T, unsigned>(x, y, argmax, GF_POOL_GEOM);                         \
        else maxpool_fwd<T, gf_i64>(x, y, argmax, GF_POOL_GEOM);                                    \
    }                                                                                               \
    extern "C" __global__ void __launch_bounds__(256) maxpool_bwd_##SFX(                            \
        const T* __restrict__ dy, const gf_i64* __restrict__ argmax, T* __restrict__ dx,            \
        GF_POOL_PARAMS)                                                                             \
    {                                                                                               \
        if (GF_SMALL) maxpool_bwd<T, unsigned>(dy, argmax, dx, GF_POOL_GEOM);                       \
        else maxpool_bwd<T, gf_i64>(dy, argmax, dx, GF_POOL_GEOM);                                  \
    }                                                                                               \
    extern "C" __global__ void __launch_bounds__(256) avgpool_fwd_##SFX(                            \
        const T* __restrict__ x, T* __restrict__ y, GF_POOL_PARAMS)                                 \
    {                                                                                               \
        if (GF_SMALL) avgpool_fwd<T, unsigned>(x, y, GF_POOL_GEOM);                                 \
        else avgpool_fwd<T, gf_i64>(x, y, GF_POOL_GEOM);                                            \
    }                                                                                               \
    extern "C" __global__ void __launch_bounds__(256) avgpool_bwd_##SFX(                            \
        const T* __restrict__ dy, T* __restrict__ dx, GF_POOL_PARAMS)                               \
    {                                                                                               \
        if (GF_SMALL) avgpool_bwd<T, unsigned>(dy, dx, GF_POOL_GEOM);                               \
        else avgpool_bwd<T, gf_i64>(dy, dx, GF_POOL_GEOM);                                          \
    }

GF_POOL_ENTRIES(float, f32)
GF_POOL_ENTRIES(double, f64)
