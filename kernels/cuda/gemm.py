"""matmul (numpy.matmul semantics, batched and broadcast) on the kernels of matmul.cu."""
from __future__ import annotations

import numpy as np

from . import _arrays, _module, launch

__all__ = ["matmul"]


def _as_batched(xp, arr, own_batch, batch, rows, cols):
    """``arr`` as [b, rows, cols] plus its batch stride (0 broadcasts; partly broadcast operands
    are expanded to the full batch first)."""
    stride = launch.batch_stride(own_batch, batch, rows, cols)
    arr = arr.reshape(tuple(own_batch) + (rows, cols))
    if stride is None:
        arr = xp.ascontiguousarray(xp.broadcast_to(arr, tuple(batch) + (rows, cols)))
        stride = rows * cols
    return arr.reshape(-1, rows, cols), stride


def matmul(a, b, out=None):
    """c = a @ b for a[..., M, K], b[..., K, N] (1-D operands as numpy.matmul); float32 uses the
    TF32 tensor-core kernel when gradflow.config.allow_tf32 is set and the GPU is sm_80+."""
    from gradflow import config  # noqa: PLC0415 - keeps this module importable on its own

    op = "matmul"
    rt = _module.runtime(op)
    a = _arrays.device_input(rt, op, "a", a)
    sfx = launch.dtype_suffix(op, a.dtype)
    b = _arrays.device_input(rt, op, "b", b, a.dtype)
    s = launch.matmul_shapes(op, a.shape, b.shape)
    c = _arrays.output(rt, op, out, s.out_shape, a.dtype)
    if c.size == 0:
        return c
    if s.K == 0:  # an empty sum
        c.fill(0)
        return c
    M, K, N = s.M, s.K, s.N
    nbatch = int(np.prod(s.batch, dtype=np.int64))
    a3, stride_a = _as_batched(rt.xp, a, s.a_batch, s.batch, M, K)
    b3, stride_b = _as_batched(rt.xp, b, s.b_batch, s.batch, K, N)
    c3 = c.reshape(nbatch, M, N)

    tf32 = launch.use_tf32(a.dtype, config.allow_tf32, rt.compute_capability()) and rt.has_tf32()
    ref = launch.kernel_ref("matmul_tf32", "f32") if tf32 else launch.kernel_ref("matmul", sfx)
    tile = launch.TF32_TILE if tf32 else launch.MATMUL_TILES[sfx]
    v = 16 // a.dtype.itemsize  # elements per 16-byte vector
    vec_a = int(K % v == 0 and rt.pointer(a3) % 16 == 0)
    vec_b = int(N % v == 0 and rt.pointer(b3) % 16 == 0)
    vec_c = int(N % v == 0 and rt.pointer(c3) % 16 == 0)
    kern = rt.kernel(ref)
    for grid, first, count in launch.matmul_chunks(op, M, N, nbatch, tile):
        av = a3[first:first + count] if stride_a else a3
        bv = b3[first:first + count] if stride_b else b3
        cv = c3[first:first + count]
        kern(grid, (launch.BLOCK, 1, 1),
             launch.pack_args(ref, (av, bv, cv, M, N, K, stride_a, stride_b, M * N, vec_a, vec_b, vec_c)))
    return c
