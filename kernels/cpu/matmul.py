"""Blocked, parallel matmul in Numba: c[..., M, N] = a[..., M, K] @ b[..., K, N], batch dims broadcast.

When N is a multiple of 8 the SIMD tiles of ``_simd.py`` do the work: B is packed once (in
parallel) into panels of NR columns, each contiguous along the reduction (a tile's step then never
crosses a page); the output is cut into SB_M x SB_N blocks scheduled over the threads; within a
block the reduction runs in slices of SB_K (the block's slice of B stays in L2, a tile's panel of it
in L1) and each MR x NR tile accumulates across the slices. A is read through its strides, so a
transposed view (``a.T @ g``, a weight gradient) is not copied.

Other shapes: B is transposed once (in parallel) so both operands run along K; the output is cut
into MB x NB blocks, each computed by the register-blocked ``gemm_nt`` over the whole K.

Products under ``SERIAL_WORK`` multiply-adds run on the calling thread (``one_thread``).
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .._geometry import check_float, check_out, matmul_shape
from .._workspace import scratch
from ._gemm import FASTMATH, gemm_nt
from ._jit import njit
from ._simd import NRS, mr_max, pick_nr, tile_rows

__all__ = ["matmul", "transpose_into", "SERIAL_WORK", "one_thread"]

MB, NB = 64, 64
#: SIMD path: output block rows and columns, reduction slice
SB_M, SB_N, SB_K = 96, 128, 256
#: at most this many rows of C: B is read in place, not packed (see ``_run``)
DIRECT_B_ROWS = 2 * SB_M
#: below this many multiply-adds a matmul runs on the calling thread only: waking the workers costs
#: more than the work (on a loaded 2-core machine a tiny product took ~90 ms in parallel, 1.4 ms alone)
SERIAL_WORK = 1 << 20


class one_thread:  # noqa: N801 - used like a function: ``with one_thread(small):``
    """Context manager: the parallel Numba kernels inside run on the calling thread only when
    ``serial`` (``numba.set_num_threads`` is per calling thread; the count is restored after)."""

    __slots__ = ("serial", "before")

    def __init__(self, serial: bool):
        self.serial, self.before = serial, 0

    def __enter__(self):
        if self.serial:
            self.before = numba.get_num_threads()
            if self.before != 1:
                numba.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        if self.serial and self.before != 1:
            numba.set_num_threads(self.before)
        return False


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


@njit(cache=True)
def _block(task, M, N, mb, nb):
    """Batch index and output block [i0, i1) x [j0, j1) of parallel task ``task`` (blocks mb x nb)."""
    nbi = (M + mb - 1) // mb
    nbj = (N + nb - 1) // nb
    t = task // (nbi * nbj)
    rem = task - t * nbi * nbj
    i0 = (rem // nbj) * mb
    j0 = (rem % nbj) * nb
    return t, i0, min(M, i0 + mb), j0, min(N, j0 + nb)


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def _batched(a3, bt3, c3, ia, ib, mb, nb):
    """c3[t] = a3[ia[t]] @ bt3[ib[t]].T for every batch index t, blocks in parallel."""
    T, M, N = c3.shape
    K = a3.shape[2]
    nbi = (M + mb - 1) // mb
    nbj = (N + nb - 1) // nb
    for task in prange(T * nbi * nbj):
        t, i0, i1, j0, j1 = _block(task, M, N, mb, nb)
        gemm_nt(a3[ia[t]], i0, 0, bt3[ib[t]], j0, 0, c3[t], i0, j0, i1 - i0, j1 - j0, K)


def _simd_batched(nr: int):
    """c3[t] = a3[ia[t]] @ b3[ib[t]] with SIMD tiles ``nr`` columns wide (a constant of the closure)."""

    @njit(parallel=True, cache=True)
    def pack(b3, packed):
        """packed[t, p, k, :] = b3[t, k, p*nr:(p+1)*nr]: each panel contiguous along the reduction."""
        T, K, N = b3.shape
        npan = N // nr
        for task in prange(T * npan):
            t = task // npan
            p = task - t * npan
            for k in range(K):
                for q in range(nr):
                    packed[t, p, k, q] = b3[t, k, p * nr + q]

    @njit(parallel=True, cache=True)
    def batched(a3, b3, c3, ia, ib, mrmax, lda, aks, pst, bks, mb):
        """A's element (i, k) of batch entry t at a3[ia[t]].flat[i*lda + k*aks] (a transposed A is free);
        B's row k of panel p at b3[ib[t]].flat[p*pst + k*bks] (packed: pst = K*nr, bks = nr; B read in
        place: pst = nr, bks = N). Blocks of ``mb`` (<= SB_M) rows of C."""
        T, M, N = c3.shape
        K = a3.shape[1] * a3.shape[2] // max(M, 1)
        nbi = (M + mb - 1) // mb
        nbj = (N + SB_N - 1) // SB_N
        for task in prange(T * nbi * nbj):
            t, i0, i1, j0, j1 = _block(task, M, N, mb, SB_N)
            A = a3[ia[t]]
            B = b3[ib[t]]
            C = c3[t]
            rows = i1 - i0
            nb = (rows + mrmax - 1) // mrmax
            if K == 0:
                for i in range(i0, i1):
                    for j in range(j0, j1):
                        C[i, j] = 0
                continue
            for k0 in range(0, K, SB_K):
                kc = min(SB_K, K - k0)
                for p in range(j0 // nr, j1 // nr):
                    for blk in range(nb):
                        lo = i0 + blk * rows // nb
                        hi = i0 + (blk + 1) * rows // nb
                        tile_rows(hi - lo, nr, A, lo * lda + k0 * aks, lda, 0, aks, B, p * pst + k0 * bks, 0, bks, C,
                                  lo * N + p * nr, N, 1, kc, k0 > 0)

    return pack, batched


#: the SIMD matmul per tile width (compiled on first use)
_SIMD = {nr: _simd_batched(nr) for nr in NRS}


def _count(batch_shape) -> int:
    return int(np.prod(batch_shape, dtype=np.int64))


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
    ia = _batch_index(a.shape[:-2], batch)
    ib = _batch_index(b.shape[:-2], batch)
    with one_thread(_count(batch) * M * N * K < SERIAL_WORK):
        return _run(a, b, c, ia, ib, batch, M, K, N, dtype)


def _run(a, b, c, ia, ib, batch, M, K, N, dtype):
    nr = pick_nr(N)
    at = np.swapaxes(a, -1, -2)
    if nr and M and K and at.flags.c_contiguous and at.dtype == dtype:  # a is a transposed view: read it as is
        a3, lda, aks = at.reshape((_count(a.shape[:-2]), K, M)), 1, M
    else:
        a3, lda, aks = np.ascontiguousarray(a, dtype=dtype).reshape((_count(a.shape[:-2]), M, K)), K, 1  # K may be 0
    if nr and M:
        pack, batched = _SIMD[nr]
        c3 = c.reshape((_count(batch), M, N))
        nbi = -(-M // SB_M)
        mb = -(-M // nbi)  # even row blocks: M = 128 is two blocks of 64, not 96 + 32
        if b.flags.c_contiguous and b.dtype == dtype and M <= DIRECT_B_ROWS:
            # few rows of C: each panel of B would serve one or two row blocks, so packing it (a full
            # read and write of B, 13 MB for model L's X^T @ dZ) costs more than reading it in place
            b3 = b.reshape((_count(b.shape[:-2]), K * N))
            batched(a3, b3, c3, ia, ib, mr_max(dtype), lda, aks, nr, N, mb)
            return c
        b3 = b.reshape((_count(b.shape[:-2]), K, N)) if b.dtype == dtype else b.astype(dtype).reshape(-1, K, N)
        packed = scratch("nb.matmul.packed", (b3.shape[0], N // nr, K, nr), dtype)
        pack(b3, packed)  # reads B through its strides: a transposed view (dZ @ W^T) is packed in one pass
        batched(a3, packed.reshape(b3.shape[0], -1), c3, ia, ib, mr_max(dtype), lda, aks, K * nr, nr, mb)
        return c
    bt = np.swapaxes(b, -1, -2)
    if bt.flags.c_contiguous and bt.dtype == dtype:  # b is a transposed view: B^T is free
        bt3 = bt.reshape((_count(b.shape[:-2]), N, K))
    else:
        b3 = np.ascontiguousarray(b, dtype=dtype).reshape((_count(b.shape[:-2]), K, N))
        bt3 = scratch("nb.matmul.bt", (b3.shape[0], N, K), dtype)
        transpose_into(b3, bt3)
    if M and N:
        with numba.parallel_chunksize(1):  # dynamic scheduling: robust when a core is busy
            _batched(a3, bt3, c.reshape((_count(batch), M, N)), ia, ib, MB, NB)
    return c
