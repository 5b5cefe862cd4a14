"""conv2d forward / backward-input / backward-filter in Numba (channels-last, stride, padding, dilation).

Every pass is a GEMM through the register-blocked ``gemm_nt`` on data that stays in cache:

* forward: each task packs a tile of output rows (im2col) into its thread's workspace and
  multiplies it by w; bias is added while the tile is hot.
* backward_input, stride 1: the same kernel run as a "full" correlation of dy with the flipped
  filter (padding d*(K-1)-pad), so nothing is scattered. Other strides: per image,
  dcols = dy @ w.T then col2im (images run in parallel, so the adds never race).
* backward_filter, stride 1: x and dy are laid out channel-major with the padded row width,
  so for each kernel offset dW[i, j] = X_shift @ DY^T is one long dot-product GEMM with no
  im2col; other strides pack transposed tiles. Partial sums live in a fixed number of chunks
  added in order, so results do not depend on the thread count.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from .._geometry import check_float, check_out, check_shape, conv_geometry
from .._workspace import scratch
from ._gemm import FASTMATH, gemm_nt

__all__ = ["conv2d_forward", "conv2d_backward_input", "conv2d_backward_filter"]

#: bytes of one thread's im2col tile (fits L2 next to the weights)
TILE_BYTES = 96 * 1024
#: fixed number of partial sums in backward_filter (independent of threads: deterministic)
FILTER_CHUNKS = 8
#: backward_filter with KH*KW*C up to this copies shifted planes so its GEMM gets 4-row blocks
FEW_CHANNELS_K = 64

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


@njit(parallel=True, fastmath=FASTMATH, **_OPTS)
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
        gemm_nt(cols, 0, 0, wT, 0, 0, y2, r0, 0, rows, F, K, False)
        if has_bias:
            for r in range(r0, r0 + rows):
                for f in range(F):
                    y2[r, f] += bias[f]


@njit(parallel=True, fastmath=FASTMATH, **_OPTS)
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
            gemm_nt(dy2, n * P + p0, 0, w2, 0, 0, dcols, 0, 0, rows, K, F, False)
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


@njit(parallel=True, **_OPTS)
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


@njit(parallel=True, fastmath=FASTMATH, **_OPTS)
def _backward_filter_planar(xq, dyq, part, N, Hq, Wq, OH, KW, sh, sw, dh, dw):
    """part[chunk, i*KW + j] = sum over the chunk's images of X(i, j) @ DY^T, as [C, F].

    For kernel offset (i, j) the cells x meets are one stride phase of the padded input shifted by
    ((i*dh) // sh, (j*dw) // sw), so X(i, j) rows and DY rows (both channel-major, row width Wq)
    line up as long contiguous dot products. dy is zero past OW, so the cells that wrap into the
    next row add nothing.
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
        if n0 == n1:
            acc[:, :] = 0
        else:  # images n0..n1 are consecutive planes in both operands: one long dot product
            gemm_nt(xq, 0, (phase * N + n0) * plane + shift, dyq, 0, n0 * plane, acc, 0, 0, C, F,
                    (n1 - n0 - 1) * plane + L, False)


@njit(parallel=True, **_OPTS)
def _shifted_rows(xq, xs, N, plane, KH, KW, sh, sw, dh, dw, Wq):
    """xs[(i*KW + j)*C + c, :] = the phase plane of x that kernel offset (i, j) meets, shifted (few channels)."""
    C = xq.shape[0]
    L = xs.shape[1]
    for r in prange(KH * KW * C):
        tap = r // C
        c = r - tap * C
        i = tap // KW
        j = tap - i * KW
        start = (((i * dh) % sh) * sw + (j * dw) % sw) * N * plane + ((i * dh) // sh) * Wq + (j * dw) // sw
        for q in range(L):
            xs[r, q] = xq[c, start + q]


@njit(parallel=True, fastmath=FASTMATH, **_OPTS)
def _backward_filter_few_channels(xs, dyq, part, N, plane):
    """part[chunk] = xs @ dyq^T over the chunk's images, [KH*KW*C, F]: one GEMM with 4x4 blocks."""
    nchunks = part.shape[0]
    K = xs.shape[0]
    F = dyq.shape[0]
    for ch in prange(nchunks):
        n0 = ch * N // nchunks
        n1 = (ch + 1) * N // nchunks
        acc = part[ch]
        if n0 == n1:
            acc[:, :] = 0
        else:
            gemm_nt(xs, 0, n0 * plane, dyq, 0, n0 * plane, acc, 0, 0, K, F, (n1 - n0) * plane, False)


@njit(parallel=True, **_OPTS)
def _sum_chunks(part, out2):
    """out2[r, c] = sum_ch part[ch, r, c], chunks added in order."""
    nchunks, R, S = part.shape
    for r in prange(R):
        for c in range(S):
            s = part[0, r, c]
            for ch in range(1, nchunks):
                s += part[ch, r, c]
            out2[r, c] = s


# -- entry points -----------------------------------------------------------------------------
def _rows(a, C, dtype):
    return np.ascontiguousarray(a, dtype=dtype).reshape(-1, C)


def _im2col_workspace(tag, KH, KW, C, dtype, limit):
    tm = _tile_rows(KH * KW * C, np.dtype(dtype).itemsize, limit)
    return scratch(tag, (numba.get_num_threads(), tm, KH * KW, C), dtype)


def conv2d_forward(x, w, b, stride, padding, dilation, out=None):
    op = "conv2d_forward"
    g = conv_geometry(op, x.shape, w.shape, stride, padding, dilation)
    check_float(op, x, w, b)
    dtype = x.dtype
    shape = (g.N, g.OH, g.OW, g.F)
    y = np.empty(shape, dtype) if out is None else check_out(op, out, shape, dtype)
    if b is not None:
        check_shape(op, "b", b.shape, (g.F,))
    bias = np.zeros(g.F, dtype) if b is None else np.ascontiguousarray(b, dtype=dtype)
    K = g.KH * g.KW * g.C
    M = g.N * g.OH * g.OW
    wT = np.ascontiguousarray(np.asarray(w, dtype=dtype).reshape(K, g.F).T)
    ws = _im2col_workspace("nb.conv.cols", g.KH, g.KW, g.C, dtype, M)
    with numba.parallel_chunksize(1):  # dynamic scheduling: robust when a core is busy
        _forward(_rows(x, g.C, dtype), wT, bias, b is not None, y.reshape(M, g.F), g.H, g.W, g.KH, g.KW,
                 g.sh, g.sw, g.top, g.left, g.dh, g.dw, g.OH, g.OW, ws)
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
    if g.sh == g.sw == 1:
        # dx = full correlation of dy with the flipped filter: forward conv, channels F -> C
        wflipT = np.ascontiguousarray(wd[::-1, ::-1].transpose(2, 0, 1, 3)).reshape(g.C, -1)
        ptop, pleft = g.dh * (g.KH - 1) - g.top, g.dw * (g.KW - 1) - g.left
        ws = _im2col_workspace("nb.conv.cols", g.KH, g.KW, g.F, dtype, g.N * g.H * g.W)
        with numba.parallel_chunksize(1):
            _forward(dy2, wflipT, np.zeros(g.C, dtype), False, dx.reshape(-1, g.C), g.OH, g.OW, g.KH, g.KW,
                     1, 1, ptop, pleft, g.dh, g.dw, g.H, g.W, ws)
        return dx
    K = g.KH * g.KW * g.C
    w2 = np.ascontiguousarray(wd).reshape(K, g.F)
    tm = _tile_rows(K, dtype.itemsize, g.OH * g.OW)
    ws = scratch("nb.conv_bwd_in.dcols", (numba.get_num_threads(), tm, K), dtype)
    with numba.parallel_chunksize(1):
        _backward_input_col2im(dy2, w2, dx.reshape(-1, g.C), g.N, g.H, g.W, g.KH, g.KW, g.sh, g.sw, g.top, g.left,
                               g.dh, g.dw, g.OH, g.OW, ws)
    return dx


def conv2d_backward_filter(dy, x, w_shape, stride, padding, dilation, out=None):
    op = "conv2d_backward_filter"
    g = conv_geometry(op, x.shape, w_shape, stride, padding, dilation)
    check_float(op, dy, x)
    check_shape(op, "dy", dy.shape, (g.N, g.OH, g.OW, g.F))
    dtype = x.dtype
    shape = (g.KH, g.KW, g.C, g.F)
    dw = np.empty(shape, dtype) if out is None else check_out(op, out, shape, dtype)
    K = g.KH * g.KW * g.C
    Hp, Wp = g.H + g.top + g.bottom, g.W + g.left + g.right
    Hq, Wq = -(-Hp // g.sh), -(-Wp // g.sw)
    slack = (g.dw * (g.KW - 1)) // g.sw + 2 * Wq  # reads past the last plane meet zeros in dy
    xq = scratch("nb.conv_bwd_w.xq", (g.C, g.sh * g.sw * g.N * Hq * Wq + slack), dtype)
    dyq = scratch("nb.conv_bwd_w.dyq", (g.F, g.N * Hq * Wq + slack), dtype)
    _to_planar(_rows(x, g.C, dtype), xq, g.N, g.H, g.W, g.top, g.left, g.sh, g.sw, Hq, Wq)
    _to_planar(_rows(dy, g.F, dtype), dyq, g.N, g.OH, g.OW, 0, 0, 1, 1, Hq, Wq)  # same plane size as x
    nchunks = max(1, min(FILTER_CHUNKS, g.N))
    part = scratch("nb.conv_bwd_w.part", (nchunks, K, g.F), dtype)
    with numba.parallel_chunksize(1):
        if K <= FEW_CHANNELS_K:  # few input channels: copy the shifted planes, one GEMM with M = K
            xs = scratch("nb.conv_bwd_w.xs", (K, g.N * Hq * Wq), dtype)
            _shifted_rows(xq, xs, g.N, Hq * Wq, g.KH, g.KW, g.sh, g.sw, g.dh, g.dw, Wq)
            _backward_filter_few_channels(xs, dyq, part, g.N, Hq * Wq)
        else:
            _backward_filter_planar(xq, dyq, part.reshape(nchunks, g.KH * g.KW, g.C, g.F), g.N, Hq, Wq, g.OH,
                                    g.KW, g.sh, g.sw, g.dh, g.dw)
    _sum_chunks(part, dw.reshape(K, g.F))
    return dw
