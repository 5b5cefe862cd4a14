// CPU emulation of the CUDA subset used by kernels/cuda/*.cu, for tests on machines without a GPU.
//
// Each CUDA thread of a block runs as a cooperative fiber (ucontext) on one OS thread; blocks run
// one after another. __syncthreads() is a real block barrier and the warp shuffles a real
// exchange among the 32 lanes of a warp (both wait for every lane still running), so kernels
// that forget a barrier or read a lane too early compute wrong results here as on a GPU, and a
// barrier some threads never reach is reported as a deadlock. __shared__ becomes `static`
// storage, which every fiber of the (single, current) block shares.
#pragma once

#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

struct dim3 {
    unsigned x, y, z;
};
typedef dim3 uint3;

namespace emu {

struct Fiber {
    ucontext_t ctx;
    std::vector<char> stack;
    uint3 tid;
    int linear;
    bool done;
};

struct Warp {
    int live;
    int arrived;
    unsigned gen;
    uint64_t slots[32];
};

inline uint3 g_tid, g_bid;
inline dim3 g_bdim, g_gdim;
inline std::vector<Fiber> g_fibers;
inline std::vector<Warp> g_warps;
inline int g_cur = 0, g_live = 0, g_bar_arrived = 0;
inline unsigned g_bar_gen = 0;
inline long g_progress = 0;
inline ucontext_t g_sched;
inline const std::function<void()>* g_body = nullptr;
inline char g_error[256] = {0};

inline void yield() { swapcontext(&g_fibers[g_cur].ctx, &g_sched); }

// Alignment assertions: the kernels are built with -fsanitize=alignment, whose checks call the
// handlers below (defined here, so UBSan's runtime is not needed). A misaligned access, such as a
// 16-byte vector load from an address that is not a multiple of 16, which a GPU faults on but an
// x86 CPU performs, fails the launch with the kernel's source line.
struct UbsanLocation { const char* file; unsigned line, column; };
struct UbsanType { unsigned short kind, info; char name[1]; };
struct UbsanMismatch { UbsanLocation loc; const UbsanType* type; unsigned char log_alignment, check_kind; };

inline void misaligned(const UbsanMismatch* d, uintptr_t ptr)
{
    if (ptr == 0) return;
    if (!g_error[0])  // the first error is the one reported
        std::snprintf(g_error, sizeof(g_error), "misaligned access: %s needs %u-byte alignment, address 0x%llx "
                  "(%s:%u, thread %u of block (%u,%u,%u))", d->type ? d->type->name : "?",
                  1u << d->log_alignment, (unsigned long long)ptr, d->loc.file, d->loc.line,
                  g_tid.x + g_bdim.x * (g_tid.y + g_bdim.y * g_tid.z), g_bid.x, g_bid.y, g_bid.z);
    for (;;) yield();  // never perform the access (x86 would fault on it too); the launch ends with the error
}

inline void syncthreads()
{
    const unsigned gen = g_bar_gen;
    if (++g_bar_arrived == g_live) {
        g_bar_arrived = 0;
        ++g_bar_gen;
        ++g_progress;
        return;
    }
    while (g_bar_gen == gen) yield();
    ++g_progress;
}

inline void warp_barrier(Warp& w)
{
    const unsigned gen = w.gen;
    if (++w.arrived == w.live) {
        w.arrived = 0;
        ++w.gen;
        ++g_progress;
        return;
    }
    while (w.gen == gen) yield();
    ++g_progress;
}

inline Warp& my_warp() { return g_warps[g_fibers[g_cur].linear / 32]; }
inline int my_lane() { return g_fibers[g_cur].linear % 32; }

template <typename T>
inline T shfl_from(T v, int src_lane)
{
    static_assert(sizeof(T) <= 8, "shuffle of at most 8 bytes");
    Warp& w = my_warp();
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    w.slots[my_lane()] = bits;
    warp_barrier(w);  // every lane has published its value
    T r;
    std::memcpy(&r, &w.slots[src_lane], sizeof(T));
    warp_barrier(w);  // every lane has read before anyone publishes again
    return r;
}

inline void trampoline()
{
    (*g_body)();
    Fiber& f = g_fibers[g_cur];
    f.done = true;
    --g_live;
    ++g_progress;
    // threads that exit count as arrived at barriers still pending
    if (g_bar_arrived > 0 && g_bar_arrived == g_live) {
        g_bar_arrived = 0;
        ++g_bar_gen;
    }
    Warp& w = g_warps[f.linear / 32];
    --w.live;
    if (w.arrived > 0 && w.arrived == w.live) {
        w.arrived = 0;
        ++w.gen;
    }
}

// run body once per thread of every block; returns 0, or 1 with g_error set on a deadlock
inline int launch(const unsigned* grid, const unsigned* block, const std::function<void()>& body)
{
    g_error[0] = 0;
    g_gdim = dim3{grid[0], grid[1], grid[2]};
    g_bdim = dim3{block[0], block[1], block[2]};
    const int nthreads = (int)(block[0] * block[1] * block[2]);
    g_body = &body;
    g_fibers.resize(nthreads);
    g_warps.resize((nthreads + 31) / 32);
    for (unsigned bz = 0; bz < grid[2]; ++bz)
        for (unsigned by = 0; by < grid[1]; ++by)
            for (unsigned bx = 0; bx < grid[0]; ++bx) {
                g_bid = uint3{bx, by, bz};
                g_live = nthreads;
                g_bar_arrived = 0;
                for (size_t i = 0; i < g_warps.size(); ++i) {
                    g_warps[i].live = (int)std::min<size_t>(32, nthreads - 32 * i);
                    g_warps[i].arrived = 0;
                }
                for (int t = 0; t < nthreads; ++t) {
                    Fiber& f = g_fibers[t];
                    f.linear = t;
                    f.tid = uint3{(unsigned)(t % block[0]), (unsigned)((t / block[0]) % block[1]),
                                  (unsigned)(t / (block[0] * block[1]))};
                    f.done = false;
                    f.stack.resize(256 * 1024);
                    getcontext(&f.ctx);
                    f.ctx.uc_stack.ss_sp = f.stack.data();
                    f.ctx.uc_stack.ss_size = f.stack.size();
                    f.ctx.uc_link = &g_sched;
                    makecontext(&f.ctx, (void (*)())trampoline, 0);
                }
                while (g_live > 0) {
                    const long before = g_progress;
                    for (int t = 0; t < nthreads; ++t) {
                        if (g_fibers[t].done) continue;
                        g_cur = t;
                        g_tid = g_fibers[t].tid;
                        swapcontext(&g_sched, &g_fibers[t].ctx);
                    }
                    if (g_error[0]) return 1;  // a misaligned access
                    if (g_progress == before && g_live > 0) {
                        std::snprintf(g_error, sizeof(g_error),
                                      "deadlock in block (%u,%u,%u): %d threads wait at a barrier others "
                                      "never reach", bx, by, bz, g_live);
                        return 1;
                    }
                }
            }
    return 0;
}

}  // namespace emu

extern "C" void __ubsan_handle_type_mismatch_v1(void* d, void* ptr)  // GCC's built-in declaration
{
    emu::misaligned(static_cast<const emu::UbsanMismatch*>(d), reinterpret_cast<uintptr_t>(ptr));
}
extern "C" void __ubsan_handle_type_mismatch_v1_abort(void* d, void* ptr)
{
    emu::misaligned(static_cast<const emu::UbsanMismatch*>(d), reinterpret_cast<uintptr_t>(ptr));
}

// ---- the CUDA surface the kernels use --------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)
#define threadIdx (emu::g_tid)
#define blockIdx (emu::g_bid)
#define blockDim (emu::g_bdim)
#define gridDim (emu::g_gdim)

using std::sqrt;

inline void __syncthreads() { emu::syncthreads(); }
inline void __syncwarp(unsigned = 0xffffffffu) { emu::warp_barrier(emu::my_warp()); }
inline void __trap() { std::abort(); }

template <typename T>
inline T __shfl_xor_sync(unsigned, T v, int lane_mask, int width = 32)
{
    const int lane = emu::my_lane();
    const int src = lane ^ lane_mask;
    return emu::shfl_from(v, (src / width == lane / width) ? src : lane);
}
template <typename T>
inline T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32)
{
    const int lane = emu::my_lane();
    const int src = lane + (int)delta;
    return emu::shfl_from(v, (src / width == lane / width) ? src : lane);
}
template <typename T>
inline T __shfl_sync(unsigned, T v, int src_lane, int width = 32)
{
    const int lane = emu::my_lane();
    return emu::shfl_from(v, (lane / width) * width + (src_lane % width));
}

inline float __int_as_float(int i)
{
    float f;
    std::memcpy(&f, &i, 4);
    return f;
}
inline double __longlong_as_double(long long i)
{
    double d;
    std::memcpy(&d, &i, 8);
    return d;
}

// ---- WMMA (only for builds with GRADFLOW_WMMA; the .cu's #include <mma.h> finds an empty file) --
// Functional model: every lane holds the whole tile, so load/mma/store follow the definitions and
// a kernel's fragment offsets, leading dimensions and epilogue are checked; the per-lane element
// split of real fragments is not modelled (kernels may only touch x[] element-wise).
#if defined(GRADFLOW_WMMA)
namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
namespace precision {
struct tf32 {};
}
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment;
template <int M, int N, int K>
struct fragment<matrix_a, M, N, K, precision::tf32, row_major> {
    static constexpr int rows = M, cols = K, num_elements = M * K;
    float x[M * K];
};
template <int M, int N, int K>
struct fragment<matrix_b, M, N, K, precision::tf32, row_major> {
    static constexpr int rows = K, cols = N, num_elements = K * N;
    float x[K * N];
};
template <int M, int N, int K>
struct fragment<accumulator, M, N, K, float, void> {
    static constexpr int rows = M, cols = N, num_elements = M * N;
    float x[M * N];
};

template <class F>
inline void fill_fragment(F& f, float v)
{
    for (int e = 0; e < F::num_elements; ++e) f.x[e] = v;
}
template <class F>
inline void load_matrix_sync(F& f, const float* p, unsigned ldm)
{
    if (((uintptr_t)p) % 32 != 0) {  // WMMA needs 256-bit aligned pointers
        std::fprintf(stderr, "load_matrix_sync: pointer %p is not 32-byte aligned\n", (const void*)p);
        std::abort();
    }
    for (int r = 0; r < F::rows; ++r)
        for (int c = 0; c < F::cols; ++c) f.x[r * F::cols + c] = p[(size_t)r * ldm + c];
}
template <class F>
inline void store_matrix_sync(float* p, const F& f, unsigned ldm, layout_t)
{
    for (int r = 0; r < F::rows; ++r)
        for (int c = 0; c < F::cols; ++c) p[(size_t)r * ldm + c] = f.x[r * F::cols + c];
}
template <class D, class A, class B, class C>
inline void mma_sync(D& d, const A& a, const B& b, const C& c)
{
    float out[D::num_elements];
    for (int m = 0; m < D::rows; ++m)
        for (int n = 0; n < D::cols; ++n) {
            float s = c.x[m * D::cols + n];
            for (int k = 0; k < A::cols; ++k) s += a.x[m * A::cols + k] * b.x[k * B::cols + n];
            out[m * D::cols + n] = s;
        }
    std::memcpy(d.x, out, sizeof(out));
}
// cvt.rna.tf32.f32: round to 10 mantissa bits, ties away from zero
inline float __float_to_tf32(float v)
{
    uint32_t b;
    std::memcpy(&b, &v, 4);
    if ((b & 0x7f800000u) != 0x7f800000u) b = (b + 0x1000u) & 0xffffe000u;
    std::memcpy(&v, &b, 4);
    return v;
}
}  // namespace wmma
}  // namespace nvcuda
#endif
