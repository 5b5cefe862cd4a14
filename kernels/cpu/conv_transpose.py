"""Transposed 2-D convolution in Numba (contract: ``kernels/conv_transpose.py``).

Strided, with filters a multiple of 8: a direct gather kernel by stride phases. Output pixel (h, w)
of y receives x[oh, ow] through tap (i, j) exactly when h + top = oh*sh + i*dh (and likewise for w),
so the output pixels of one row and one column phase (w = b, b + sw, b + 2sw, ...) share the same
taps: for each valid kernel row i, the kernel columns j = j0, j0 + step, ... meet consecutive x
pixels. That is a small dense GEMM per (row, phase): the pixels are a SIMD tile's rows (``_simd``),
the (column tap, channel) pairs its two-level reduction, 32 (16, 8) filters its columns, read in
place from a zero-padded copy of x (the padding makes every tap in range, so no tap is skipped
inside the tile). No col2im scatter, no dcols matrix; each output row is written once, and the bias
+ ReLU epilogue runs on it while it is in cache.

Other shapes (stride 1, where conv2d's backward-input is already a SIMD correlation; filters not a
multiple of 8) take conv2d's backward-input kernel on the adjoint problem, then the bias + ReLU
epilogue in one parallel pass over the output, in place.

The backward needs no kernel of its own (``ops.nn.Conv2DTranspose``): dx is conv2d's strided forward
and dw conv2d's backward-filter, both on the SIMD tiles.
"""
from __future__ import annotations

import functools
import math

import numba
import numpy as np
from numba import prange

from .._geometry import check_activation, check_float, check_out, check_shape, conv_geometry
from .._workspace import scratch
from ..conv_transpose import OP
from ._jit import njit
from ._simd import NRS, mr_max, pick_nr, tile_rows
from .conv2d import conv2d_backward_input

__all__ = ["conv2d_transpose_forward"]

_OPTS = dict(cache=True, error_model="numpy")


@njit(parallel=True, **_OPTS)
def _bias_act(y2, bias, has_bias, relu):
    """y2[r] = act(y2[r] + bias), in place, one task per row block."""
    M, F = y2.shape
    zero = y2.dtype.type(0)
    for r in prange(M):
        row = y2[r]
        if has_bias and relu:  # branches hoisted out of the channel loop so each one vectorises
            for f in range(F):
                row[f] = max(row[f] + bias[f], zero)
        elif has_bias:
            for f in range(F):
                row[f] += bias[f]
        elif relu:
            for f in range(F):
                row[f] = max(row[f], zero)


def _phase_kernel(nr: int):
    """The gather kernel for tiles ``nr`` columns wide (a closure constant: one machine code per width)."""

    @njit(parallel=True, **_OPTS)
    def phase_forward(xp, pk, nri, ilast, nrj, jlast, bias, has_bias, relu, y, sh, sw, top, left, dh, dw, dxh, dxw,
                      pt, pl, mrmax):
        """y[n, h, w, :] = act(sum over taps of xp[n, pt + oh, pl + ow, :] @ w[i, j, :, :].T + bias) with
        oh = (h + top - i*dh) / sh and ow = (w + left - j*dw) / sw whole numbers (the module docstring).

        xp [N, OHp, OWp, C]: x zero-padded so every such (oh, ow) is inside it. pk [sh, sw, RI, RJ, C, F]:
        the kernel packed by phase (row phase (h + top) % sh, column phase (w + left) % sw), its
        ``nri``/``nrj`` taps in descending kernel order, so that consecutive taps read x rows (columns)
        ``dxh`` (``dxw``) apart in ascending order; ``ilast``/``jlast`` the largest kernel row
        (column) of each phase. With dxw == 1 a phase's (column tap, channel) pairs are contiguous in
        xp and one tile reduces over all its taps; else one tile per row tap. One task per output row.
        """
        N, OHp, OWp, C = xp.shape
        RI, RJ, F = pk.shape[2], pk.shape[3], pk.shape[5]
        H, W = y.shape[1], y.shape[2]
        zero = y.dtype.type(0)
        yf = y.reshape(-1)
        xf = xp.reshape(-1)
        pf = pk.reshape(-1)
        for task in prange(N * H):
            n = task // H
            h = task - n * H
            row = (n * H + h) * W * F
            rho = (h + top) % sh
            ri = nri[rho]
            xrow = (n * OHp + (h + top - ilast[rho] * dh) // sh + pt) * OWp  # the first row tap's x row
            for b in range(min(sw, W)):
                sig = (b + left) % sw
                rj = nrj[sig]
                nw = (W - b + sw - 1) // sw
                xcol = (b + left - jlast[sig] * dw) // sw + pl  # pixel b's first column tap
                wb = (rho * sw + sig) * RI * RJ * C * F
                nb = (nw + mrmax - 1) // mrmax
                for blk in range(nb):
                    t0 = blk * nw // nb
                    mr = (blk + 1) * nw // nb - t0
                    a0 = (xrow + xcol + t0) * C
                    for f0 in range(0, F, nr):
                        c0 = row + (b + t0 * sw) * F + f0
                        if ri == 0 or rj == 0:  # no tap reaches this phase: a zero-length reduction stores 0
                            tile_rows(mr, nr, xf, 0, 0, 0, 0, pf, 0, 0, 0, yf, c0, sw * F, 0, 0, False)
                        elif dxw == 1:
                            tile_rows(mr, nr, xf, a0, C, dxh * OWp * C, 1, pf, wb + f0, RJ * C * F, F, yf, c0,
                                      sw * F, ri, rj * C, False)
                        else:
                            for r in range(ri):
                                tile_rows(mr, nr, xf, a0 + r * dxh * OWp * C, C, dxw * C, 1, pf,
                                          wb + r * RJ * C * F + f0, C * F, F, yf, c0, sw * F, rj, C, r > 0)
            if has_bias or relu:
                for k in range(row, row + W * F, F):
                    for f in range(F):
                        v = yf[k + f] + bias[f]
                        if relu and v < zero:
                            v = zero
                        yf[k + f] = v

    return phase_forward


#: the gather kernels per tile width (defining them compiles nothing; each compiles on first use)
_PHASE = {nr: _phase_kernel(nr) for nr in NRS}


def _phase_padding(n_out, n_in, k, s, lo, d):
    """Zero rows (before, after) x needs so that every tap of every output pixel reads inside it:
    x index (h + lo - i*d) / s ranges over floor((lo - (k-1)*d) / s) .. floor((n_out - 1 + lo) / s)."""
    return max(0, -((lo - (k - 1) * d) // s)), max(0, (n_out - 1 + lo) // s - (n_in - 1))


def _phase_taps(k, s, d):
    """Per phase p < s: the kernel taps t with t*d = p (mod s), in descending order (consecutive
    ones read x indices ``d // gcd(s, d)`` apart, ascending)."""
    return [[t for t in range(k - 1, -1, -1) if (t * d - p) % s == 0] for p in range(s)]


@functools.lru_cache(maxsize=256)
def _phase_plan(KH, KW, sh, sw, dh, dw):
    """(row taps, column taps, their counts and largest taps as int arrays, x steps between taps)."""
    rows, cols = _phase_taps(KH, sh, dh), _phase_taps(KW, sw, dw)
    counts = [np.array([len(t) for t in taps], np.int64) for taps in (rows, cols)]
    last = [np.array([t[0] if t else 0 for t in taps], np.int64) for taps in (rows, cols)]
    return rows, cols, counts[0], last[0], counts[1], last[1], dh // math.gcd(sh, dh), dw // math.gcd(sw, dw)


def _pack(w, plan, dtype):
    """pk[p, q, r, m, c, f] = w[rows[p][r], cols[q][m], f, c] (zeros past a phase's taps)."""
    rows, cols = plan[0], plan[1]
    KH, KW, F, C = w.shape
    RI, RJ = max(1, max(len(t) for t in rows)), max(1, max(len(t) for t in cols))
    wt = np.asarray(w, dtype=dtype).transpose(0, 1, 3, 2)  # [KH, KW, C, F]
    pk = np.zeros((len(rows), len(cols), RI, RJ, C, F), dtype)
    for p, ri in enumerate(rows):
        for q, cj in enumerate(cols):
            if ri and cj:
                pk[p, q, :len(ri), :len(cj)] = wt[np.ix_(ri, cj)]
    return pk


def conv2d_transpose_forward(x, w, b, y_shape, stride, padding, dilation, out=None, activation=None):
    relu = check_activation(OP, activation)
    check_float(OP, x, w, b)
    y_shape = tuple(int(v) for v in y_shape)
    if b is not None:
        check_shape(OP, "b", tuple(b.shape), (y_shape[3],))
    g = conv_geometry(OP, y_shape, w.shape, stride, padding, dilation)  # y is that conv's input, x its output
    nr = pick_nr(g.C)
    if nr and (g.sh > 1 or g.sw > 1):
        check_shape(OP, "x", tuple(x.shape), (g.N, g.OH, g.OW, g.F))
        dtype = x.dtype
        y = np.empty(y_shape, dtype) if out is None else check_out(OP, out, y_shape, dtype)
        pt, pb = _phase_padding(g.H, g.OH, g.KH, g.sh, g.top, g.dh)
        pl, pr = _phase_padding(g.W, g.OW, g.KW, g.sw, g.left, g.dw)
        x4 = np.ascontiguousarray(x, dtype=dtype)
        if pt or pb or pl or pr:
            xp = scratch(f"nb.convt.xpad:{pt},{pb},{pl},{pr}", (g.N, g.OH + pt + pb, g.OW + pl + pr, g.F), dtype,
                         zeroed=True)  # the pads in the tag: the border stays zero for this interior alone
            # one serial copy: x is the small side of the op, and a parallel region costs more than the
            # copy itself when another process holds a core
            xp[:, pt:pt + g.OH, pl:pl + g.OW, :] = x4
        else:
            xp = x4
        plan = _phase_plan(g.KH, g.KW, g.sh, g.sw, g.dh, g.dw)
        bias = np.ascontiguousarray(b, dtype=dtype) if b is not None else np.zeros(g.C, dtype)  # read by ReLU alone
        with numba.parallel_chunksize(1):  # dynamic scheduling: a busy core does not hold the others back
            _PHASE[nr](xp, _pack(w, plan, dtype), *plan[2:6], bias, b is not None, relu, y, g.sh, g.sw, g.top,
                       g.left, g.dh, g.dw, *plan[6:], pt, pl, mr_max(dtype))
        return y
    y = conv2d_backward_input(x, w, y_shape, stride, padding, dilation, out=out)
    if b is not None or relu:
        bias = np.ascontiguousarray(b, dtype=y.dtype) if b is not None else np.zeros(1, y.dtype)
        _bias_act(y.reshape(-1, y_shape[3]), bias, b is not None, relu)
    return y
