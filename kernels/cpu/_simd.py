"""Explicit-SIMD GEMM micro-kernels for the Numba conv kernels, written as LLVM IR through Numba intrinsics.

Numba has no vector types, and its loops leave LLVM to guess the register blocking. An outer-product
micro-kernel is what reaches the FMA peak: an ``MR x NR`` tile of C lives in vector registers while
each reduction step broadcasts MR values of A and loads NR contiguous values of B. These intrinsics
emit exactly that loop (``<NR x float>`` vectors, ``llvm.fma``), so LLVM only allocates registers.

The reduction runs over a two-level index (r, q) with independent strides for A and B, so one
kernel walks an im2col matrix that is never built (forward: kernel rows x (kernel columns *
channels)) or a sum over the pixels of an image (backward-filter: output rows x output columns).

``tile(MR)(NR, A, a0, lda, ars, aks, B, b0, brs, bks, C, c0, ldc, R, Q, accumulate)``, with NR a
compile-time constant (32, 16 or 8), computes for i < MR and n < NR (element offsets into the flat,
C-contiguous arrays)::

    acc[i, n] = sum_{r < R, q < Q} A[a0 + i*lda + r*ars + q*aks] * B[b0 + r*brs + q*bks + n]
    C[c0 + i*ldc + n] = acc[i, n] (+ C[...] when accumulate)

FMA contraction and a fixed order of the reduction: results are deterministic and within float
rounding of a plain sum. No bounds checks: the callers own the geometry.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._jit import njit

__all__ = ["NRS", "NR_MAX", "MR_MAX", "MR_LIMIT", "POOL_WIDTHS", "mr_max", "pick_nr", "tile", "tile_rows",
           "tile_pool_rows"]


def _host_has_avx512() -> bool:
    try:
        import llvmlite.binding as llvm  # noqa: PLC0415 - llvmlite comes with Numba, loaded lazily

        return "+avx512f" in llvm.get_host_cpu_features().flatten().split(",")
    except Exception:  # pragma: no cover - feature query unavailable
        return False


_AVX512 = _host_has_avx512()

#: the tile widths (columns of C) compiled, widest first: 32 float32 = two 512-bit vectors (LLVM splits
#: vector types wider than the machine's), 16 = one, 8 = one 256-bit vector. A caller passes its width
#: as a compile-time constant (the conv kernels are closures over it).
NRS = (32, 16, 8)
#: the widest tile used here: two vectors per row on AVX-512 (32 registers), else 16 columns = two
#: 256-bit vectors per row, so that MR_MAX rows of accumulators fit AVX2's 16 registers
NR_MAX = 32 if _AVX512 else 16
#: rows of C per float32 tile: 12 x 32 accumulators fill 24 of AVX-512's 32 registers; 6 x 16 take
#: 12 of AVX2's 16
MR_MAX = 12 if _AVX512 else 6


def pick_nr(n: int) -> int:
    """The widest tile width (up to NR_MAX) dividing ``n`` columns, or 0 when none does (the caller falls back)."""
    for nr in NRS:
        if nr <= NR_MAX and n % nr == 0:
            return nr
    return 0


def mr_max(dtype) -> int:
    """Rows per tile for ``dtype``: float64 rows are twice as wide, so half as many fit in registers."""
    return MR_MAX if np.dtype(dtype).itemsize == 4 else max(1, MR_MAX // 2)


def _check_arrays(nr, *arrays) -> bool:
    """The column count is a compile-time constant (one machine-code tile per value) and the arrays
    are float32/float64 of one dtype."""
    if not isinstance(nr, types.IntegerLiteral) or nr.literal_value not in NRS:
        return False
    for arr in arrays:
        if not isinstance(arr, types.Array) or arr.dtype not in (types.float32, types.float64):
            return False
    return all(arr.dtype == arrays[0].dtype for arr in arrays)


def _emit_reduction(context, builder, mr, ncols, ety, a_ty, a_arr, a0v, ldav, arsv, aksv, b_ty, b_arr, b0v, brsv,
                    bksv, rv, qv):
    """The MR x NR accumulators of the two-level reduction (see the module docstring), as allocas
    LLVM promotes to registers; returns (accumulator slots, vector type, element size, the fma)."""
    vty = ir.VectorType(ety, ncols)
    vptr = vty.as_pointer()
    size = context.get_abi_sizeof(ety)  # vectors are only element-aligned
    fname = f"llvm.fma.v{ncols}{'f32' if size == 4 else 'f64'}"
    fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vty, [vty, vty, vty]), fname)
    intp = context.get_value_type(types.intp)
    pa = context.make_array(a_ty)(context, builder, a_arr).data
    pb = context.make_array(b_ty)(context, builder, b_arr).data
    accs = [cgutils.alloca_once_value(builder, ir.Constant(vty, None)) for _ in range(mr)]
    idx0 = ir.Constant(ir.VectorType(ir.IntType(32), ncols), [0] * ncols)
    undef = ir.Constant(vty, ir.Undefined)
    with cgutils.for_range(builder, rv, intp=intp) as rloop:
        r = rloop.index
        arow = builder.add(a0v, builder.mul(r, arsv))
        brow = builder.add(b0v, builder.mul(r, brsv))
        with cgutils.for_range(builder, qv, intp=intp) as qloop:
            q = qloop.index
            ak = builder.add(arow, builder.mul(q, aksv))
            bk = builder.add(brow, builder.mul(q, bksv))
            bvec = builder.load(builder.bitcast(builder.gep(pb, [bk]), vptr), align=size)
            for i in range(mr):
                a_i = builder.add(ak, builder.mul(ir.Constant(intp, i), ldav))
                aval = builder.load(builder.gep(pa, [a_i]))
                lane0 = builder.insert_element(undef, aval, ir.Constant(ir.IntType(32), 0))
                splat = builder.shuffle_vector(lane0, undef, idx0)
                builder.store(builder.call(fma, [splat, bvec, builder.load(accs[i])]), accs[i])
    return accs, vty, size, fma


def _make(mr: int):
    @intrinsic
    def _tile(typingctx, nr, A, a0, lda, ars, aks, B, b0, brs, bks, C, c0, ldc, R, Q, accumulate):
        if not _check_arrays(nr, A, B, C):
            return None
        sig = types.void(nr, A, types.intp, types.intp, types.intp, types.intp, B, types.intp, types.intp,
                         types.intp, C, types.intp, types.intp, types.intp, types.intp, types.boolean)
        ncols = nr.literal_value

        def codegen(context, builder, signature, args):
            (_, a_arr, a0v, ldav, arsv, aksv, b_arr, b0v, brsv, bksv, c_arr, c0v, ldcv, rv, qv, accv) = args
            ety = context.get_data_type(signature.args[1].dtype)
            accs, vty, size, _ = _emit_reduction(context, builder, mr, ncols, ety, signature.args[1], a_arr, a0v,
                                                 ldav, arsv, aksv, signature.args[6], b_arr, b0v, brsv, bksv, rv, qv)
            if accv.type != ir.IntType(1):
                accv = builder.icmp_unsigned("!=", accv, ir.Constant(accv.type, 0))
            intp = context.get_value_type(types.intp)
            pc = context.make_array(signature.args[10])(context, builder, c_arr).data
            vptr = vty.as_pointer()
            for i in range(mr):
                cp = builder.bitcast(builder.gep(pc, [builder.add(c0v, builder.mul(ir.Constant(intp, i), ldcv))]), vptr)
                acc = builder.load(accs[i])
                with builder.if_then(accv):
                    builder.store(builder.fadd(acc, builder.load(cp, align=size)), accs[i])
                builder.store(builder.load(accs[i]), cp, align=size)
            return context.get_dummy_value()

        return sig, codegen

    return _tile


#: the largest tile compiled: 12 x 32 float32 accumulators use 24 of AVX-512's 32 registers
MR_LIMIT = 12

_TILES = {mr: _make(mr) for mr in range(1, MR_LIMIT + 1)}


def tile(mr: int):
    """The ``mr``-row micro-kernel intrinsic (1 <= mr <= MR_LIMIT)."""
    return _TILES[mr]


_T1, _T2, _T3, _T4, _T5, _T6, _T7, _T8, _T9, _T10, _T11, _T12 = (_TILES[m] for m in range(1, MR_LIMIT + 1))


@njit(cache=True, nogil=True)
def tile_rows(mr, nr, A, a0, lda, ars, aks, B, b0, brs, bks, C, c0, ldc, R, Q, accumulate):
    """``tile(mr)`` for a run-time ``mr`` in 1..MR_LIMIT (one branch per compiled variant)."""
    if mr == 12:
        _T12(nr, A, a0, lda, ars, aks, B, b0, brs, bks, C, c0, ldc, R, Q, accumulate)
    elif mr == 11:
        _T11(nr, A, a0, lda, ars, aks, B, b0, brs, bks, C, c0, ldc, R, Q, accumulate)
    elif mr == 10:
        _T10(nr, A, a0, lda, ars, aks, B, b0, brs, bks, C, c0, ldc, R, Q, accumulate)
    elif mr == 9:
        _T9(nr, A, a0, lda, ars, aks, B, b0, brs, bks, C, c0, ldc, R, Q, accumulate)
    elif mr == 8:
        _T8(nr, A, a0, lda, ars, aks, B, b0, brs, bks, C, c0, ldc, R, Q, accumulate)
    elif mr == 7:
        _T7(nr, A, a0, lda, ars, aks, B, b0, brs, bks, C, c0, ldc, R, Q, accumulate)
    elif mr == 6:
        _T6(nr, A, a0, lda, ars, aks, B, b0, brs, bks, C, c0, ldc, R, Q, accumulate)
    elif mr == 5:
        _T5(nr, A, a0, lda, ars, aks, B, b0, brs, bks, C, c0, ldc, R, Q, accumulate)
    elif mr == 4:
        _T4(nr, A, a0, lda, ars, aks, B, b0, brs, bks, C, c0, ldc, R, Q, accumulate)
    elif mr == 3:
        _T3(nr, A, a0, lda, ars, aks, B, b0, brs, bks, C, c0, ldc, R, Q, accumulate)
    elif mr == 2:
        _T2(nr, A, a0, lda, ars, aks, B, b0, brs, bks, C, c0, ldc, R, Q, accumulate)
    else:
        _T1(nr, A, a0, lda, ars, aks, B, b0, brs, bks, C, c0, ldc, R, Q, accumulate)


#: pooling widths with in-register pooled tiles (each tile's rows a multiple of pw, up to MR_LIMIT)
POOL_WIDTHS = (1, 2, 3, 4)


@intrinsic
def tile_pool_rows(typingctx, groups, pw, nr, A, a0, lda, ars, aks, B, b0, brs, bks, C, c0, ldc, R, Q, maxacc, relu,
                   S, Bias, s0):
    """The tile of ``groups * pw`` rows (pw in POOL_WIDTHS, groups * pw <= MR_LIMIT; run-time values,
    one machine-code variant per pair behind a switch) whose epilogue pools: C row g (stride ldc)
    = relu?(max(C if maxacc, max over the pw rows i of group g of acc_i * S[s0:] + Bias[s0:])),
    the max keeping the earlier value on ties (the scalar kernels' rule). Any other pair does
    nothing."""
    if not _check_arrays(nr, A, B, C, S, Bias):
        return None
    sig = types.void(types.intp, types.intp, nr, A, types.intp, types.intp, types.intp, types.intp, B, types.intp,
                     types.intp, types.intp, C, types.intp, types.intp, types.intp, types.intp, types.boolean,
                     types.boolean, S, Bias, types.intp)
    ncols = nr.literal_value

    def codegen(context, builder, signature, args):
        (groups_v, pw_v, _, a_arr, a0v, ldav, arsv, aksv, b_arr, b0v, brsv, bksv, c_arr, c0v, ldcv, rv, qv, maxv,
         reluv, s_arr, bias_arr, s0v) = args
        ety = context.get_data_type(signature.args[3].dtype)
        intp = context.get_value_type(types.intp)
        i1 = ir.IntType(1)
        if maxv.type != i1:
            maxv = builder.icmp_unsigned("!=", maxv, ir.Constant(maxv.type, 0))
        if reluv.type != i1:
            reluv = builder.icmp_unsigned("!=", reluv, ir.Constant(reluv.type, 0))
        pc = context.make_array(signature.args[12])(context, builder, c_arr).data
        ps = context.make_array(signature.args[19])(context, builder, s_arr).data
        pbias = context.make_array(signature.args[20])(context, builder, bias_arr).data

        def variant(mr, pw):
            accs, vty, size, fma = _emit_reduction(context, builder, mr, ncols, ety, signature.args[3], a_arr, a0v,
                                                   ldav, arsv, aksv, signature.args[8], b_arr, b0v, brsv, bksv, rv, qv)
            vptr = vty.as_pointer()
            svec = builder.load(builder.bitcast(builder.gep(ps, [s0v]), vptr), align=size)
            bvec = builder.load(builder.bitcast(builder.gep(pbias, [s0v]), vptr), align=size)
            zero = ir.Constant(vty, None)

            def vmax(a, b):  # a if a > b else b, lane by lane
                return builder.select(builder.fcmp_ordered(">", a, b), a, b)

            for g in range(mr // pw):
                v = builder.call(fma, [builder.load(accs[g * pw]), svec, bvec])
                for j in range(1, pw):
                    v = vmax(builder.call(fma, [builder.load(accs[g * pw + j]), svec, bvec]), v)
                cp = builder.bitcast(builder.gep(pc, [builder.add(c0v, builder.mul(ir.Constant(intp, g), ldcv))]), vptr)
                v = builder.select(maxv, vmax(v, builder.load(cp, align=size)), v)
                v = builder.select(reluv, builder.select(builder.fcmp_ordered("<", v, zero), zero, v), v)
                builder.store(v, cp, align=size)

        key = builder.add(builder.mul(groups_v, ir.Constant(intp, MR_LIMIT + 1)), pw_v)
        done = builder.append_basic_block("pool.done")
        switch = builder.switch(key, done)
        for pw in POOL_WIDTHS:
            for g in range(1, MR_LIMIT // pw + 1):
                block = builder.append_basic_block(f"pool.{g}x{pw}")
                switch.add_case(ir.Constant(intp, g * (MR_LIMIT + 1) + pw), block)
                with builder.goto_block(block):
                    variant(g * pw, pw)
                    builder.branch(done)
        builder.position_at_end(done)
        return context.get_dummy_value()

    return sig, codegen
