"""Blocked, parallel matmul in Numba: c[..., M, N] = a[..., M, K] @ b[..., K, N], batch dims broadcast.

B is transposed once (in parallel) so both operands run along K; the output is cut into
MB x NB blocks scheduled dynamically over the threads, each computed by the register-blocked
``gemm_nt`` over the whole K (64 rows of A and of B^T stay in L2; slicing K measured slower).
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from .._geometry import check_float, check_out, matmul_shape
from .._workspace import scratch
from ._gemm import FASTMATH, gemm_nt

__all__ = ["matmul", "transpose_into"]

MB, NB = 64, 64


@njit(parallel=True, cache=True)
def transpose_into(src, dst):
    """dst[b, j, i] = src[b, i, j] for 3-D C-contiguous arrays, in 32x32 blocks."""
    B, R, S = src.shape
    nbr = (R + 31) // 32
    nbs = (S + 31) // 32
    for t in prange(B * nbr * nbs):
        b = t // (nbr * nbs)
        rem = t - b * nbr * nbs
        r0 = (rem // nbs) * 32
        s0 = (rem % nbs) * 32
        for i in range(r0, min(R, r0 + 32)):
            for j in range(s0, min(S, s0 + 32)):
                dst[b, j, i] = src[b, i, j]


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def _batched(a3, bt3, c3, ia, ib, mb, nb):
    """c3[t] = a3[ia[t]] @ bt3[ib[t]].T for every batch index t, blocks in parallel."""
    T = c3.shape[0]
    M, K = a3.shape[1], a3.shape[2]
    N = bt3.shape[1]
    nbi = (M + mb - 1) // mb
    nbj = (N + nb - 1) // nb
    for task in prange(T * nbi * nbj):
        t = task // (nbi * nbj)
        rem = task - t * nbi * nbj
        i0 = (rem // nbj) * mb
        j0 = (rem % nbj) * nb
        A = a3[ia[t]]
        BT = bt3[ib[t]]
        C = c3[t]
        rows = min(mb, M - i0)
        cols = min(nb, N - j0)
        gemm_nt(A, i0, 0, BT, j0, 0, C, i0, j0, rows, cols, K)


def _batch_index(shape, batch):
    """Flat index into an operand's own batch for every flat index of the broadcast batch."""
    own = int(np.prod(shape, dtype=np.int64))
    return np.ascontiguousarray(np.broadcast_to(np.arange(own, dtype=np.int64).reshape(shape), batch)).reshape(-1)


def matmul(a, b, out=None):
    op = "matmul"
    shape = matmul_shape(op, a.shape, b.shape)
    check_float(op, a, b)
    dtype = a.dtype
    c = np.empty(shape, dtype) if out is None else check_out(op, out, shape, dtype)
    M, K = a.shape[-2:]
    N = b.shape[-1]
    batch = shape[:-2]
    a3 = np.ascontiguousarray(a).reshape((-1, M, K))
    bt = np.swapaxes(b, -1, -2)
    if bt.flags.c_contiguous and bt.dtype == dtype:  # b is a transposed view: B^T is free
        bt3 = bt.reshape((-1, N, K))
    else:
        b3 = np.ascontiguousarray(b, dtype=dtype).reshape((-1, K, N))
        bt3 = scratch("nb.matmul.bt", (b3.shape[0], N, K), dtype)
        transpose_into(b3, bt3)
    ia = _batch_index(a.shape[:-2], batch)
    ib = _batch_index(b.shape[:-2], batch)
    if M and N:
        with numba.parallel_chunksize(1):  # dynamic scheduling: robust when a core is busy
            _batched(a3, bt3, c.reshape((-1, M, N)), ia, ib, MB, NB)
    return c
