"""conv2d forward / backward-input / backward-filter in Numba (channels-last, stride, padding, dilation).

The hot path (filters, and for backward-input channels, a multiple of 8) runs on the explicit-SIMD
tiles of ``_simd.py`` (32, 16 or 8 columns wide) as implicit GEMMs, never building an im2col matrix:

* forward: each task is one output row of the zero-padded input, cut into balanced blocks of pixels;
  a tile walks each pixel's window in place (kernel rows x kernel columns * channels) against 32
  (or 16, or 8) filters at a time; bias and ReLU (``activation='relu'``) are applied while the row is in cache.
* backward_input, stride 1: the same kernel run as a full correlation of dy with the flipped filter.
* backward_filter: for each kernel row, the (kernel column, channel) pairs of a pixel's window are
  the tile's rows, read straight from the padded NHWC input, against 32 filters of dy, summed over
  every pixel of an image; with ``bias_out`` a one-row tile sums dy for the bias gradient in the same
  pass. Partial sums live in a fixed number of image chunks added in order, so results do not depend
  on the thread count.

Other shapes take the earlier paths: forward packs im2col tiles per thread and multiplies them with
the register-blocked ``gemm_nt`` (or, for a tiny reduction KH*KW*C <= 32, packs the whole matrix and
calls OpenBLAS once); strided backward_input is dy @ w.T then col2im per image; backward_filter copies
x and dy channel-major (x split into stride phases) so that each kernel offset is one long
dot-product GEMM.
"""
from __future__ import annotations

import functools
import sys
from typing import NamedTuple

import numba
import numpy as np
from numba import prange

from .._geometry import (
    bias_grad_into,
    check_activation,
    check_bias_out,
    check_conv_pool,
    check_float,
    check_float_dtypes,
    check_out,
    check_shape,
    conv_geometry,
)
from .._workspace import scratch
from ._gemm import FASTMATH, gemm_nt
from ._jit import njit, opaque, ready, serial_or_parallel
from ._simd import NRS, POOL_WIDTHS, mr_max, pick_nr, tile_pool_rows, tile_rows

__all__ = ["conv2d_forward", "conv2d_backward_input", "conv2d_backward_filter", "conv2d_pool_forward"]

#: bytes of one thread's im2col tile (fits L2 next to the weights)
TILE_BYTES = 96 * 1024
#: fixed number of partial sums in backward_filter (independent of threads: deterministic)
FILTER_CHUNKS = 8
#: bytes of both operands' slices in one backward_filter GEMM (kept in L2)
SLICE_BYTES = 384 * 1024
#: forward / backward_filter with KH*KW*C up to this (first layers: 3x3x1, 3x3x3) use one BLAS GEMM
SMALL_K = 32
#: padded copies of at least this many elements run the parallel ``_copy_interior`` (compiled on first
#: use); smaller ones are a NumPy copy of a few milliseconds at most, which no parallel copy repays
COPY_PARALLEL = 1 << 20
#: multiply-adds of inference conv + max-pool after which a process compiles the fused
#: ``forward_pool`` kernel (seconds) when it is not already compiled or on disk: below it the
#: conv and pooling kernels in turn give the same numbers (see conv2d_pool_forward)
FUSE_WORK = 1 << 34
#: multiply-adds of one SIMD conv kernel after which a process compiles its ``parallel=True`` build
#: (about 2 CPU-s more than the serial one) when that is not already compiled or on disk: the README
#: example (about 2**33 per kernel over 12 epochs) runs serial; a real CNN's training switches within
#: seconds, and every later process loads the parallel build from disk (_jit.SerialOrParallel)
PARALLEL_WORK = 1 << 35
#: the same for the packing and layout copies (elements written: memory-bound, a smaller gain)
PARALLEL_COPY = 1 << 31

_OPTS = dict(cache=True, error_model="numpy")


def _tile_rows(k: int, itemsize: int, limit: int) -> int:
    rows = TILE_BYTES // max(1, k * itemsize)
    return max(4, int(max(16, min(1024, limit, rows)) // 4 * 4))


@njit(nogil=True, **_OPTS)
def _pack_rows(x2, cols3, r0, rows, H, W, KH, KW, sh, sw, top, left, dh, dw, OH, OW):
    """cols3[t, i*KW + j, :] = xpad[n, oh*sh + i*dh, ow*sw + j*dw, :] for output rows r0 .. r0+rows.

    x2 is the input as [N*H*W, C]; out-of-range cells (padding) are zeros.
    """
    C = x2.shape[1]
    n = r0 // (OH * OW)
    rem = r0 - n * OH * OW
    oh = rem // OW
    ow = rem - oh * OW
    for t in range(rows):
        for i in range(KH):
            h = oh * sh - top + i * dh
            for j in range(KW):
                w = ow * sw - left + j * dw
                tap = i * KW + j
                if h >= 0 and h < H and w >= 0 and w < W:
                    src = (n * H + h) * W + w
                    for c in range(C):
                        cols3[t, tap, c] = x2[src, c]
                else:
                    for c in range(C):
                        cols3[t, tap, c] = 0
        ow += 1
        if ow == OW:
            ow = 0
            oh += 1
            if oh == OH:
                oh = 0
                n += 1


@serial_or_parallel(PARALLEL_COPY, **_OPTS)
def _pack_matrix(x2, cols, H, W, KH, KW, sh, sw, top, left, dh, dw, OH, OW, ones):
    """The whole im2col matrix cols[M, KH*KW*C (+1)], in parallel; with ``ones`` the last column is 1
    (so a GEMM with the bias as the last row of the weights adds the bias)."""
    M = cols.shape[0]
    C = x2.shape[1]
    K = KH * KW * C
    for blk in prange((M + 255) // 256):
        r0 = blk * 256
        n = r0 // (OH * OW)
        rem = r0 - n * OH * OW
        oh = rem // OW
        ow = rem - oh * OW
        for r in range(r0, min(M, r0 + 256)):
            for i in range(KH):
                h = oh * sh - top + i * dh
                for j in range(KW):
                    w = ow * sw - left + j * dw
                    base = (i * KW + j) * C
                    if h >= 0 and h < H and w >= 0 and w < W:
                        src = (n * H + h) * W + w
                        for c in range(C):
                            cols[r, base + c] = x2[src, c]
                    else:
                        for c in range(C):
                            cols[r, base + c] = 0
            if ones:
                cols[r, K] = 1
            ow += 1
            if ow == OW:
                ow = 0
                oh += 1
                if oh == OH:
                    oh = 0
                    n += 1


@serial_or_parallel(PARALLEL_WORK, fastmath=FASTMATH, **_OPTS)
def _forward(x2, wT, bias, has_bias, y2, H, W, KH, KW, sh, sw, top, left, dh, dw, OH, OW, ws):
    """y2[M, F] = im2col(x) @ wT.T (+ bias); one tile of ws.shape[1] output rows per task."""
    M, F = y2.shape
    K = wT.shape[1]
    tm = ws.shape[1]
    for t in prange((M + tm - 1) // tm):
        cols3 = ws[numba.get_thread_id()]
        cols = cols3.reshape((tm, K))
        r0 = t * tm
        rows = min(tm, M - r0)
        _pack_rows(x2, cols3, r0, rows, H, W, KH, KW, sh, sw, top, left, dh, dw, OH, OW)
        gemm_nt(cols, 0, 0, wT, 0, 0, y2, r0, 0, rows, F, K)
        if has_bias:
            for r in range(r0, r0 + rows):
                for f in range(F):
                    y2[r, f] += bias[f]


@serial_or_parallel(PARALLEL_WORK, fastmath=FASTMATH, **_OPTS)
def _backward_input_col2im(dy2, w2, dx2, N, H, W, KH, KW, sh, sw, top, left, dh, dw, OH, OW, ws):
    """dx = col2im(dy2 @ w2.T), one image per task (its scatter never meets another task's)."""
    F = dy2.shape[1]
    C = dx2.shape[1]
    K = w2.shape[0]
    tm = ws.shape[1]
    P = OH * OW
    for n in prange(N):
        dcols = ws[numba.get_thread_id()]
        for r in range(n * H * W, (n + 1) * H * W):
            for c in range(C):
                dx2[r, c] = 0
        for p0 in range(0, P, tm):
            rows = min(tm, P - p0)
            gemm_nt(dy2, n * P + p0, 0, w2, 0, 0, dcols, 0, 0, rows, K, F)
            oh = p0 // OW
            ow = p0 - oh * OW
            for t in range(rows):
                for i in range(KH):
                    h = oh * sh - top + i * dh
                    if h < 0 or h >= H:
                        continue
                    for j in range(KW):
                        w = ow * sw - left + j * dw
                        if w < 0 or w >= W:
                            continue
                        dst = (n * H + h) * W + w
                        base = (i * KW + j) * C
                        for c in range(C):
                            dx2[dst, c] += dcols[t, base + c]
                ow += 1
                if ow == OW:
                    ow = 0
                    oh += 1


@serial_or_parallel(PARALLEL_COPY, **_OPTS)
def _to_planar(x2, xq, N, H, W, top, left, sh, sw, Hq, Wq):
    """Channel-major, stride-phase-split, zero-padded copy of x2 ([N*H*W, C] rows).

    Padded cell (hp, wp) = (h + top, w + left) of image n goes to phase (a, b) = (hp % sh, wp % sw),
    position (hp // sh, wp // sw): xq[c, ((a*sw + b)*N + n)*Hq*Wq + (hp // sh)*Wq + wp // sw].
    Every other cell, including the slack past the last plane, is 0.
    """
    C = x2.shape[1]
    plane = Hq * Wq
    for n in prange(N):
        for ph in range(sh * sw):
            base = (ph * N + n) * plane
            for c in range(C):
                for e in range(base, base + plane):
                    xq[c, e] = 0
        for h in range(H):
            hp = h + top
            for w in range(W):
                wp = w + left
                dst = (((hp % sh) * sw + wp % sw) * N + n) * plane + (hp // sh) * Wq + wp // sw
                src = (n * H + h) * W + w
                for c in range(C):
                    xq[c, dst] = x2[src, c]
    for c in range(C):
        for e in range(sh * sw * N * plane, xq.shape[1]):
            xq[c, e] = 0


@serial_or_parallel(PARALLEL_WORK, fastmath=FASTMATH, **_OPTS)
def _backward_filter_planar(xq, dyq, part, N, Hq, Wq, OH, KW, sh, sw, dh, dw, seg, ws):
    """part[chunk, i*KW + j] = sum over the chunk's images of X(i, j) @ DY^T, as [C, F].

    For kernel offset (i, j) the cells x meets are one stride phase of the padded input shifted by
    ((i*dh) // sh, (j*dw) // sw), so X(i, j) rows and DY rows (both channel-major, row width Wq)
    line up as long contiguous dot products. dy is zero past OW, so the cells that wrap into the
    next row add nothing. The reduction runs in slices of ``seg`` so both operands' slices stay
    in L2; each slice's product goes to the thread's ws buffer and is added to the chunk's sum.
    """
    nchunks, taps = part.shape[0], part.shape[1]
    C = xq.shape[0]
    F = dyq.shape[0]
    L = OH * Wq
    plane = Hq * Wq
    for task in prange(nchunks * taps):
        ch = task // taps
        tap = task - ch * taps
        i = tap // KW
        j = tap - i * KW
        phase = ((i * dh) % sh) * sw + (j * dw) % sw
        shift = ((i * dh) // sh) * Wq + (j * dw) // sw
        n0 = ch * N // nchunks
        n1 = (ch + 1) * N // nchunks
        acc = part[ch, tap]
        acc[:, :] = 0
        tmp = ws[numba.get_thread_id()]
        # images n0..n1 are consecutive planes in both operands: one long reduction, in slices
        xo = (phase * N + n0) * plane + shift
        yo = n0 * plane
        total = (n1 - n0 - 1) * plane + L if n1 > n0 else 0
        for q0 in range(0, total, seg):
            gemm_nt(xq, 0, xo + q0, dyq, 0, yo + q0, tmp, 0, 0, C, F, min(seg, total - q0))
            for c in range(C):
                for f in range(F):
                    acc[c, f] += tmp[c, f]


def _sum_chunks(part, out2):
    """out2 = sum over ch of part[ch], the chunks added in order, one NumPy add per chunk: the same
    float sums as a loop over the elements (a few hundred thousand adds; no kernel to compile)."""
    np.copyto(out2, part[0])
    for ch in range(1, part.shape[0]):
        np.add(out2, part[ch], out=out2)


class _SimdKernels(NamedTuple):
    forward: object
    backward_filter: object
    forward_pool: object


def _simd_kernels(nr: int) -> _SimdKernels:
    """The SIMD conv kernels for tiles ``nr`` columns wide: ``nr`` is a constant of the closures, so
    each width compiles (and is cached on disk) as its own machine code."""

    @njit(nogil=True, **_OPTS)
    def conv_row(xp, w2, out, c_row, base, OW, KH, KW, sw, dh, dw, mrmax):
        """One output row of the conv (no bias) into ``out`` at element ``c_row`` (pixels of F
        values): the pixels cut into balanced blocks of at most ``mrmax`` (26 as 9 + 9 + 8, not
        12 + 12 + 2), each block a SIMD tile per ``nr``-column panel of the weights walking its
        windows in place from element ``base`` of the padded input (the row's top-left corner)."""
        Wp, C = xp.shape[2], xp.shape[3]
        F = w2.shape[1]
        one = opaque(1)  # not a literal: tile_rows compiles once per nr and dtype
        nb = (OW + mrmax - 1) // mrmax
        for f0 in range(0, F, nr):
            for blk in range(nb):
                ow0 = blk * OW // nb
                mr = (blk + 1) * OW // nb - ow0
                a0 = base + ow0 * sw * C
                c0 = c_row + ow0 * F + f0
                if dw == 1:  # a kernel row's (column, channel) pairs are contiguous in xp
                    tile_rows(mr, nr, xp, a0, sw * C, dh * Wp * C, one, w2, f0, KW * C * F, F, out, c0, F,
                              KH, KW * C, opaque(False))
                else:
                    for i in range(KH):
                        tile_rows(mr, nr, xp, a0 + i * dh * Wp * C, sw * C, dw * C, one, w2,
                                  i * KW * C * F + f0, C * F, F, out, c0, F, KW, C, i > 0)

    @serial_or_parallel(PARALLEL_WORK, **_OPTS)
    def forward(xp, w2, bias, has_bias, relu, y2, KH, KW, sh, sw, dh, dw, OH, OW, mrmax):
        """y2[(n*OH + oh)*OW + ow, :] = sum_{i,j,c} xp[n, oh*sh + i*dh, ow*sw + j*dw, c] * w2[(i*KW + j)*C + c, :].

        Implicit GEMM on the zero-padded input: each task is one output row, cut into balanced blocks
        of at most ``mrmax`` pixels; a SIMD tile walks the window (kernel rows x kernel columns *
        channels) in place, one ``nr``-column panel of the weights at a time. Bias and ReLU are
        applied to the row while it is in cache. Needs F % nr == 0.
        """
        N, Hp, Wp, C = xp.shape
        F = y2.shape[1]
        zero = y2.dtype.type(0)
        for task in prange(N * OH):
            n = task // OH
            oh = task - n * OH
            row = (n * OH + oh) * OW
            conv_row(xp, w2, y2, row * F, (n * Hp + oh * sh) * Wp * C, OW, KH, KW, sw, dh, dw, mrmax)
            if has_bias or relu:
                for r in range(row, row + OW):
                    for f in range(F):
                        v = y2[r, f] + bias[f]
                        if relu and v < zero:
                            v = zero
                        y2[r, f] = v


    @serial_or_parallel(PARALLEL_WORK, **_OPTS)
    def backward_filter(xp, dy2, part, KH, KW, sh, sw, dh, dw, OH, OW, mrmax, pbias, ones):
        """part[chunk] ([KH*KW*C, F]) = sum over the chunk's images of im2col(xp).T @ dy, never building im2col.

        For one output pixel the (kernel column, channel) pairs of a kernel row are contiguous in the
        padded NHWC input when dw == 1, so a SIMD tile takes up to ``mrmax`` of them as its rows (a
        broadcast per row and reduction step) against nr filters of dy, summing over every output pixel
        of an image. With dw > 1 each kernel offset is its own group of C rows. Row blocks are balanced
        (26 rows: 9 + 9 + 8, not 12 + 12 + 2) so no tile is too short to hide the FMA latency. Needs
        F % nr == 0 (nr = 32 or 16, a compile-time constant).

        With a non-empty ``pbias`` ([nchunks, F]) the first group's tasks also sum dy over the chunk's
        pixels (a one-row tile whose A is the constant ``ones`` = [[[[1]]]]): the bias gradient, while
        dy is in cache.
        """
        N, Hp, Wp, C = xp.shape
        nchunks, K, F = part.shape
        wide = dw == 1
        groups = KH if wide else KH * KW
        rows = KW * C if wide else C
        nb = (rows + mrmax - 1) // mrmax
        for task in prange(nchunks * groups):
            ch = task // groups
            grp = task - ch * groups
            i = grp if wide else grp // KW
            j = 0 if wide else grp - i * KW
            acc = part[ch]
            r0 = grp * rows
            for r in range(r0, r0 + rows):
                for f in range(F):
                    acc[r, f] = 0
            bias = pbias.shape[0] > 0 and grp == 0
            if bias:
                pbias[ch, :] = 0
            one, zero, add = opaque(1), opaque(0), opaque(True)  # not literals: one tile_rows per nr
            for n in range(ch * N // nchunks, (ch + 1) * N // nchunks):
                a_img = ((n * Hp + i * dh) * Wp + j * dw) * C
                b_img = n * OH * OW * F
                for f0 in range(0, F, nr):
                    if bias:
                        tile_rows(one, nr, ones, zero, zero, zero, zero, dy2, b_img + f0, OW * F, F, pbias,
                                  ch * F + f0, F, OH, OW, add)
                    for blk in range(nb):
                        lo = blk * rows // nb
                        hi = (blk + 1) * rows // nb
                        tile_rows(hi - lo, nr, xp, a_img + lo, one, sh * Wp * C, sw * C, dy2, b_img + f0, OW * F, F,
                                  acc, (r0 + lo) * F + f0, F, OH, OW, add)

    @njit(parallel=True, **_OPTS)
    def forward_pool(xp, w2, scale, bias, relu, y, KH, KW, sh, sw, dh, ph, pw, gmax):
        """y[n, po, qo, :] = relu?(max over the (ph, pw) window at (po*ph, qo*pw) of the conv
        output * scale + bias), pooled in the tiles' registers (column dilation 1, pw in
        POOL_WIDTHS): a tile of up to ``gmax`` pooled pixels (gmax * pw conv pixels of one row)
        scales and shifts its rows, maxes each group of ``pw`` and stores the pooled row into y,
        maxed with what the window's earlier conv rows stored there; the last row applies ReLU.
        The conv output never leaves the registers. Needs F % nr == 0."""
        N, Hp, Wp, C = xp.shape
        PO, QO, F = y.shape[1], y.shape[2], y.shape[3]
        nb = (QO + gmax - 1) // gmax  # balanced blocks of pooled pixels
        for task in prange(N * PO):
            n = task // PO
            po = task - n * PO
            yrow = task * QO * F
            for r in range(ph):
                base = (n * Hp + (po * ph + r) * sh) * Wp * C
                for f0 in range(0, F, nr):
                    for blk in range(nb):
                        g0 = blk * QO // nb
                        g = (blk + 1) * QO // nb - g0
                        tile_pool_rows(g, pw, nr, xp, base + g0 * pw * sw * C, sw * C, dh * Wp * C, 1, w2, f0,
                                       KW * C * F, F, y, yrow + g0 * F + f0, F, KH, KW * C, r > 0,
                                       relu and r == ph - 1, scale, bias, f0)

    return _SimdKernels(forward, backward_filter, forward_pool)


#: the kernels per tile width (defining them compiles nothing; each compiles on first use)
_SIMD = {nr: _simd_kernels(nr) for nr in NRS}


# -- entry points -----------------------------------------------------------------------------
def _rows(a, C, dtype):
    return np.ascontiguousarray(a, dtype=dtype).reshape(-1, C)


def _padded(a, top, bottom, left, right, tag, dtype):
    """``a`` (NHWC) zero-padded by the given rows and columns; ``a`` itself when there is no padding.

    The padded copy lives in a per-thread scratch buffer kept for this tag, shape and padding,
    zero-filled once when it is made; each call copies only the interior (the border is never
    written, so it stays zero), which spares a batch-1 predict a parallel pass over the border."""
    a4 = np.ascontiguousarray(a, dtype=dtype)
    if not (top or bottom or left or right):
        return a4
    N, H, W, C = a4.shape
    ap = scratch(f"{tag}:{top},{left}", (N, H + top + bottom, W + left + right, C), dtype, zeroed=True)
    if a4.size < COPY_PARALLEL:
        ap[:, top:top + H, left:left + W, :] = a4
    else:
        _copy_interior(a4, ap, top, left)
    return ap


def _im2col_workspace(tag, KH, KW, C, dtype, limit):
    tm = _tile_rows(KH * KW * C, np.dtype(dtype).itemsize, limit)
    return scratch(tag, (numba.get_num_threads(), tm, KH * KW, C), dtype)


def conv2d_forward(x, w, b, stride, padding, dilation, out=None, activation=None):
    op = "conv2d_forward"
    g = conv_geometry(op, x.shape, w.shape, stride, padding, dilation)
    relu = check_activation(op, activation)
    check_float(op, x, w, b)
    dtype = x.dtype
    shape = (g.N, g.OH, g.OW, g.F)
    y = np.empty(shape, dtype) if out is None else check_out(op, out, shape, dtype)
    if b is not None:
        check_shape(op, "b", b.shape, (g.F,))
    bias = np.zeros(g.F, dtype) if b is None else np.ascontiguousarray(b, dtype=dtype)
    K = g.KH * g.KW * g.C
    M = g.N * g.OH * g.OW
    nr = pick_nr(g.F)
    if nr:  # implicit GEMM with SIMD tiles: no im2col at all
        xp = _padded(x, g.top, g.bottom, g.left, g.right, "nb.conv.xpad", dtype)
        w2 = np.ascontiguousarray(np.asarray(w, dtype=dtype).reshape(K, g.F))
        _SIMD[nr].forward(M * g.F * K, xp, w2, bias, b is not None, relu, y.reshape(M, g.F), g.KH, g.KW, g.sh, g.sw,
                          g.dh, g.dw, g.OH, g.OW, mr_max(dtype))
        return y
    if K <= SMALL_K:  # too short a reduction for gemm_nt: pack in parallel, one BLAS GEMM, bias as a row
        cols = scratch("nb.conv.matrix", (M, K + 1), dtype)
        _pack_matrix(cols.size, _rows(x, g.C, dtype), cols, g.H, g.W, g.KH, g.KW, g.sh, g.sw, g.top, g.left, g.dh, g.dw,
                     g.OH, g.OW, True)
        wb = np.empty((K + 1, g.F), dtype)
        wb[:K] = np.asarray(w, dtype=dtype).reshape(K, g.F)
        wb[K] = bias
        np.matmul(cols, wb, out=y.reshape(M, g.F))
        if relu:
            np.maximum(y, 0, out=y)
        return y
    wT = np.ascontiguousarray(np.asarray(w, dtype=dtype).reshape(K, g.F).T)
    ws = _im2col_workspace("nb.conv.cols", g.KH, g.KW, g.C, dtype, M)
    with numba.parallel_chunksize(1):  # dynamic scheduling: robust when a core is busy
        _forward(M * g.F * K, _rows(x, g.C, dtype), wT, bias, b is not None, y.reshape(M, g.F), g.H, g.W, g.KH, g.KW,
                 g.sh, g.sw, g.top, g.left, g.dh, g.dw, g.OH, g.OW, ws)
    if relu:
        np.maximum(y, 0, out=y)
    return y


def conv2d_backward_input(dy, w, x_shape, stride, padding, dilation, out=None):
    op = "conv2d_backward_input"
    g = conv_geometry(op, x_shape, w.shape, stride, padding, dilation)
    check_float(op, dy, w)
    check_shape(op, "dy", dy.shape, (g.N, g.OH, g.OW, g.F))
    dtype = dy.dtype
    shape = (g.N, g.H, g.W, g.C)
    dx = np.empty(shape, dtype) if out is None else check_out(op, out, shape, dtype)
    wd = np.asarray(w, dtype=dtype)
    dy2 = _rows(dy, g.F, dtype)
    ph, pw = g.dh * (g.KH - 1), g.dw * (g.KW - 1)
    pads = (ph - g.top, ph - g.bottom, pw - g.left, pw - g.right)
    nr = pick_nr(g.C)
    if g.sh == g.sw == 1 and nr and min(pads) >= 0:
        # full correlation of dy with the flipped filter, as an implicit-GEMM forward conv (F -> C)
        dyp = _padded(dy, *pads, "nb.conv.dypad", dtype)
        wflip = np.ascontiguousarray(wd[::-1, ::-1].transpose(0, 1, 3, 2)).reshape(-1, g.C)
        _SIMD[nr].forward(dx.size * g.F * g.KH * g.KW, dyp, wflip, np.zeros(g.C, dtype), False, False,
                          dx.reshape(-1, g.C), g.KH, g.KW, 1, 1, g.dh, g.dw, g.H, g.W, mr_max(dtype))
        return dx
    if g.sh == g.sw == 1:
        # dx = full correlation of dy with the flipped filter: forward conv, channels F -> C
        wflipT = np.ascontiguousarray(wd[::-1, ::-1].transpose(2, 0, 1, 3)).reshape(g.C, -1)
        ptop, pleft = g.dh * (g.KH - 1) - g.top, g.dw * (g.KW - 1) - g.left
        ws = _im2col_workspace("nb.conv.cols", g.KH, g.KW, g.F, dtype, g.N * g.H * g.W)
        with numba.parallel_chunksize(1):
            _forward(dx.size * g.F * g.KH * g.KW, dy2, wflipT, np.zeros(g.C, dtype), False, dx.reshape(-1, g.C),
                     g.OH, g.OW, g.KH, g.KW, 1, 1, ptop, pleft, g.dh, g.dw, g.H, g.W, ws)
        return dx
    K = g.KH * g.KW * g.C
    w2 = np.ascontiguousarray(wd).reshape(K, g.F)
    tm = _tile_rows(K, dtype.itemsize, g.OH * g.OW)
    ws = scratch("nb.conv_bwd_in.dcols", (numba.get_num_threads(), tm, K), dtype)
    with numba.parallel_chunksize(1):
        _backward_input_col2im(dy2.size * K, dy2, w2, dx.reshape(-1, g.C), g.N, g.H, g.W, g.KH, g.KW, g.sh, g.sw,
                               g.top, g.left, g.dh, g.dw, g.OH, g.OW, ws)
    return dx


def conv2d_backward_filter(dy, x, w_shape, stride, padding, dilation, out=None, bias_out=None):
    op = "conv2d_backward_filter"
    g = conv_geometry(op, x.shape, w_shape, stride, padding, dilation)
    check_float(op, dy, x)
    check_shape(op, "dy", dy.shape, (g.N, g.OH, g.OW, g.F))
    dtype = x.dtype
    shape = (g.KH, g.KW, g.C, g.F)
    dw = np.empty(shape, dtype) if out is None else check_out(op, out, shape, dtype)
    K = g.KH * g.KW * g.C
    nchunks = max(1, min(FILTER_CHUNKS, g.N))
    part = scratch("nb.conv_bwd_w.part", (nchunks, K, g.F), dtype)
    x2, dy2 = _rows(x, g.C, dtype), _rows(dy, g.F, dtype)
    check_bias_out(op, bias_out, g.F, dtype)
    nr = pick_nr(g.F)
    if nr:  # SIMD tiles over the padded input as it is: no im2col, no transpose
        xp = _padded(x, g.top, g.bottom, g.left, g.right, "nb.conv.xpad", dtype)
        pbias = scratch("nb.conv_bwd_w.pbias", (nchunks if bias_out is not None else 0, g.F), dtype)
        _SIMD[nr].backward_filter(dy2.size * K, xp, dy2, part, g.KH, g.KW, g.sh, g.sw, g.dh, g.dw, g.OH, g.OW,
                                  mr_max(dtype), pbias, np.ones((1, 1, 1, 1), dtype))
        _sum_chunks(part, dw.reshape(K, g.F))
        if bias_out is not None:
            _sum_chunks(pbias.reshape(nchunks, 1, g.F), bias_out.reshape(1, g.F))
        return dw
    bias_grad_into(op, dy2, bias_out)
    if K <= SMALL_K:  # short K: pack the whole im2col matrix in parallel, then one BLAS GEMM
        M = g.N * g.OH * g.OW
        cols = scratch("nb.conv.matrix", (M, K), dtype)
        _pack_matrix(cols.size, x2, cols, g.H, g.W, g.KH, g.KW, g.sh, g.sw, g.top, g.left, g.dh, g.dw, g.OH, g.OW,
                     False)
        np.matmul(cols.T, dy2, out=dw.reshape(K, g.F))
        return dw
    Hp, Wp = g.H + g.top + g.bottom, g.W + g.left + g.right
    Hq, Wq = -(-Hp // g.sh), -(-Wp // g.sw)
    slack = (g.dw * (g.KW - 1)) // g.sw + 2 * Wq  # reads past the last plane meet zeros in dy
    xq = scratch("nb.conv_bwd_w.xq", (g.C, g.sh * g.sw * g.N * Hq * Wq + slack), dtype)
    dyq = scratch("nb.conv_bwd_w.dyq", (g.F, g.N * Hq * Wq + slack), dtype)
    _to_planar(xq.size, x2, xq, g.N, g.H, g.W, g.top, g.left, g.sh, g.sw, Hq, Wq)
    _to_planar(dyq.size, dy2, dyq, g.N, g.OH, g.OW, 0, 0, 1, 1, Hq, Wq)  # same plane size as x
    seg = max(64, SLICE_BYTES // ((g.C + g.F) * dtype.itemsize) // 16 * 16)
    ws = scratch("nb.conv_bwd_w.tmp", (numba.get_num_threads(), g.C, g.F), dtype)
    with numba.parallel_chunksize(1):
        _backward_filter_planar(dy2.size * K, xq, dyq, part.reshape(nchunks, g.KH * g.KW, g.C, g.F), g.N, Hq, Wq, g.OH,
                                g.KW, g.sh, g.sw, g.dh, g.dw, seg, ws)
    _sum_chunks(part, dw.reshape(K, g.F))
    return dw


def conv2d_pool_forward(x, w, b, stride, padding, dilation, pool, out=None, activation=None, scale=None):
    """max_pool2d(act(conv2d(x, w) * scale + b), pool, stride=pool, no padding): the fused inference
    op (``scale`` None: 1). With F a multiple of 8, column dilation 1 and a pool width the pooled
    tiles take (POOL_WIDTHS), one kernel pools in the tiles' registers; other shapes run the
    conv and the max-pool in turn. The argument checks are remembered per argument set (a model
    calls a layer alike every batch)."""
    vec = (None if b is None else (tuple(b.shape), b.dtype),
           None if scale is None else (tuple(scale.shape), scale.dtype))
    try:
        plan = _pool_plan(tuple(x.shape), x.dtype, tuple(w.shape), w.dtype, *vec, stride, padding, dilation, pool,
                          activation)
    except TypeError:  # unhashable geometry (lists): check uncached
        plan = _pool_plan.__wrapped__(tuple(x.shape), x.dtype, tuple(w.shape), w.dtype, *vec, stride, padding,
                                      dilation, pool, activation)
    g, relu, ph, pw, shape, nr, mr = plan
    if not (nr and g.dw == 1 and pw in POOL_WIDTHS and pw <= mr):
        from .. import _composed  # noqa: PLC0415

        return _composed.conv2d_pool_forward(sys.modules[__package__], x, w, b, stride, padding, dilation, pool,
                                             out, activation, scale)
    dtype = x.dtype
    y = np.empty(shape, dtype) if out is None else check_out("conv2d_pool_forward", out, shape, dtype)
    bias = _constant(g.F, 0, dtype) if b is None else np.ascontiguousarray(b, dtype=dtype)
    unscaled = scale is None
    scale = _constant(g.F, 1, dtype) if scale is None else np.ascontiguousarray(scale, dtype=dtype)
    xp = _padded(x, g.top, g.bottom, g.left, g.right, "nb.conv.xpad", dtype)
    w2 = np.ascontiguousarray(w, dtype=dtype).reshape(g.KH * g.KW * g.C, g.F)
    args = (xp, w2, scale, bias, relu, y, g.KH, g.KW, g.sh, g.sw, g.dh, ph, pw, mr // pw)
    kernel = _SIMD[nr].forward_pool
    if unscaled and not _fuse(kernel, args, g.N * g.OH * g.OW * g.F * g.KH * g.KW * g.C):
        return _conv_then_pool(x, w, b, stride, padding, dilation, activation, ph, pw, y)
    kernel(*args)
    return y


#: multiply-adds run so far by the unfused conv + max-pool, per (fused kernel, dtype) (see FUSE_WORK)
_UNFUSED_WORK: dict = {}
#: the (fused kernel, dtype) pairs that run fused in this process (ready, or repaid)
_FUSED: set = set()


def _fuse(kernel, args, work: int) -> bool:
    """Whether to run the fused ``forward_pool``: when it needs no compiling (compiled, or on disk:
    asked once per dtype), or once this process's unfused calls of it have done ``FUSE_WORK``
    multiply-adds (a long inference repays the seconds of compiling; a few validation batches never
    do). A rule by work, not time, and both paths give the same numbers: the choice never changes a
    result."""
    key = (kernel, args[0].dtype)
    if key in _FUSED:
        return True
    if key not in _UNFUSED_WORK:
        _UNFUSED_WORK[key] = 0
        if ready(kernel, *args):
            _FUSED.add(key)
            return True
    done = _UNFUSED_WORK[key] + work
    _UNFUSED_WORK[key] = done
    if done >= FUSE_WORK:
        _FUSED.add(key)
        return True
    return False


def _conv_then_pool(x, w, b, stride, padding, dilation, activation, ph, pw, y):
    """The fused kernel's result from the training kernels: the conv with its bias and ReLU (the
    same tile sums, the bias added once: what ``acc * 1 + bias`` rounds to), then the window max
    (exact, and ReLU commutes with it), written into ``y``."""
    c = conv2d_forward(x, w, b, stride, padding, dilation, activation=activation)
    N, PO, QO, F = y.shape
    win = c[:, :PO * ph, :QO * pw, :].reshape(N, PO, ph, QO, pw, F)
    np.max(win, axis=(2, 4), out=y)
    return y


@functools.lru_cache(maxsize=512)
def _pool_plan(x_shape, x_dtype, w_shape, w_dtype, b_spec, scale_spec, stride, padding, dilation, pool, activation):
    """The checked geometry of one conv2d_pool_forward argument set: (geometry, relu, ph, pw,
    output shape, tile width or 0, tile rows)."""
    op = "conv2d_pool_forward"
    g = conv_geometry(op, x_shape, w_shape, stride, padding, dilation)
    relu = check_activation(op, activation)
    check_float_dtypes(op, x_dtype, w_dtype, *(spec[1] for spec in (b_spec, scale_spec) if spec is not None))
    ph, pw = check_conv_pool(op, g, pool)
    if b_spec is not None:
        check_shape(op, "b", b_spec[0], (g.F,))
    if scale_spec is not None:
        check_shape(op, "scale", scale_spec[0], (g.F,))
    return g, relu, ph, pw, (g.N, g.OH // ph, g.OW // pw, g.F), pick_nr(g.F), mr_max(x_dtype)


_CONSTANTS: dict = {}


def _constant(n: int, value, dtype):
    """A shared vector of ``n`` times ``value`` (no bias: 0, no scale: 1), never written. Left writable:
    a read-only array is another Numba type, so ``forward_pool`` would compile a second signature."""
    key = (n, value, np.dtype(dtype).str)
    v = _CONSTANTS.get(key)
    if v is None:
        v = _CONSTANTS[key] = np.full(n, value, dtype)
    return v


@njit(parallel=True, **_OPTS)
def _copy_interior(x4, xp, top, left):
    """xp[n, top:top+H, left:left+W, :] = x4[n], in parallel over the rows (the border is left alone)."""
    N, H, W, C = x4.shape
    for task in prange(N * H):
        n = task // H
        h = task - n * H
        for w in range(W):
            for c in range(C):
                xp[n, top + h, left + w, c] = x4[n, h, w, c]
