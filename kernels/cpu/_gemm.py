"""Single-threaded GEMM building blocks for the Numba kernels (called inside their parallel loops).

``gemm_nt`` computes C = A @ BT.T with both operands contiguous along the reduction axis: a 4x4
block of dot products whose 16 accumulators LLVM keeps in vector registers. On the AVX-512 hosts
we measured this runs at or above OpenBLAS's single-thread speed, without BLAS threading to juggle.
``FASTMATH`` allows only reassociation and FMA contraction: NaN/inf semantics are kept.
"""
from __future__ import annotations

from ._jit import njit

__all__ = ["FASTMATH", "gemm_nt", "dot"]

#: reassociation lets LLVM vectorise reductions; contraction lets it use FMA. Nothing else.
FASTMATH = {"reassoc", "contract"}


@njit(fastmath=FASTMATH, cache=True, nogil=True, error_model="numpy")
def dot(a, b, K):
    """sum(a[:K] * b[:K]) in the dtype of the arrays."""
    s = a.dtype.type(0)
    for k in range(K):
        s += a[k] * b[k]
    return s


@njit(fastmath=FASTMATH, cache=True, nogil=True, error_model="numpy")
def gemm_nt(A, ai, ka, BT, bj, kb, C, ci, cj, M, N, K):
    """C[ci:ci+M, cj:cj+N] = A[ai:ai+M, ka:ka+K] @ BT[bj:bj+N, kb:kb+K].T, single-threaded.

    A, BT and C are whole C-contiguous 2-D arrays (offsets instead of slices keep the rows
    unit-stride for LLVM); rows of A and BT run along the reduction axis.
    """
    zero = A.dtype.type(0)
    M4 = M - M % 4
    N4 = N - N % 4
    for i in range(0, M4, 4):
        a0 = A[ai + i, ka:ka + K]
        a1 = A[ai + i + 1, ka:ka + K]
        a2 = A[ai + i + 2, ka:ka + K]
        a3 = A[ai + i + 3, ka:ka + K]
        for j in range(0, N4, 4):
            b0 = BT[bj + j, kb:kb + K]
            b1 = BT[bj + j + 1, kb:kb + K]
            b2 = BT[bj + j + 2, kb:kb + K]
            b3 = BT[bj + j + 3, kb:kb + K]
            s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = zero
            s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = zero
            for k in range(K):
                x0 = a0[k]
                x1 = a1[k]
                x2 = a2[k]
                x3 = a3[k]
                y0 = b0[k]
                y1 = b1[k]
                y2 = b2[k]
                y3 = b3[k]
                s00 += x0 * y0
                s01 += x0 * y1
                s02 += x0 * y2
                s03 += x0 * y3
                s10 += x1 * y0
                s11 += x1 * y1
                s12 += x1 * y2
                s13 += x1 * y3
                s20 += x2 * y0
                s21 += x2 * y1
                s22 += x2 * y2
                s23 += x2 * y3
                s30 += x3 * y0
                s31 += x3 * y1
                s32 += x3 * y2
                s33 += x3 * y3
            C[ci + i, cj + j] = s00
            C[ci + i, cj + j + 1] = s01
            C[ci + i, cj + j + 2] = s02
            C[ci + i, cj + j + 3] = s03
            C[ci + i + 1, cj + j] = s10
            C[ci + i + 1, cj + j + 1] = s11
            C[ci + i + 1, cj + j + 2] = s12
            C[ci + i + 1, cj + j + 3] = s13
            C[ci + i + 2, cj + j] = s20
            C[ci + i + 2, cj + j + 1] = s21
            C[ci + i + 2, cj + j + 2] = s22
            C[ci + i + 2, cj + j + 3] = s23
            C[ci + i + 3, cj + j] = s30
            C[ci + i + 3, cj + j + 1] = s31
            C[ci + i + 3, cj + j + 2] = s32
            C[ci + i + 3, cj + j + 3] = s33
    # ragged edges: the last N % 4 columns four rows at a time, then the last M % 4 rows
    for i in range(0, M4, 4):
        a0 = A[ai + i, ka:ka + K]
        a1 = A[ai + i + 1, ka:ka + K]
        a2 = A[ai + i + 2, ka:ka + K]
        a3 = A[ai + i + 3, ka:ka + K]
        for j in range(N4, N):
            b0 = BT[bj + j, kb:kb + K]
            s0 = s1 = s2 = s3 = zero
            for k in range(K):
                y0 = b0[k]
                s0 += a0[k] * y0
                s1 += a1[k] * y0
                s2 += a2[k] * y0
                s3 += a3[k] * y0
            C[ci + i, cj + j] = s0
            C[ci + i + 1, cj + j] = s1
            C[ci + i + 2, cj + j] = s2
            C[ci + i + 3, cj + j] = s3
    for i in range(M4, M):
        a0 = A[ai + i, ka:ka + K]
        for j in range(0, N4, 4):
            b0 = BT[bj + j, kb:kb + K]
            b1 = BT[bj + j + 1, kb:kb + K]
            b2 = BT[bj + j + 2, kb:kb + K]
            b3 = BT[bj + j + 3, kb:kb + K]
            s0 = s1 = s2 = s3 = zero
            for k in range(K):
                x0 = a0[k]
                s0 += x0 * b0[k]
                s1 += x0 * b1[k]
                s2 += x0 * b2[k]
                s3 += x0 * b3[k]
            C[ci + i, cj + j] = s0
            C[ci + i, cj + j + 1] = s1
            C[ci + i, cj + j + 2] = s2
            C[ci + i, cj + j + 3] = s3
        for j in range(N4, N):
            s = dot(a0, BT[bj + j, kb:kb + K], K)
            C[ci + i, cj + j] = s
