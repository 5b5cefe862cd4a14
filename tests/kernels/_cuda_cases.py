"""Shapes, tolerances and helpers shared by the CUDA kernel tests (emulated on the CPU and real on
a GPU), so both check the same odd cases against the reference."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

CONV_CASES = {  # x_shape, w_shape, stride, padding ((top, bottom), (left, right)), dilation
    "batch1_3x3_same": ((1, 6, 7, 3), (3, 3, 3, 4), (1, 1), ((1, 1), (1, 1)), (1, 1)),
    "1x1_kernel": ((2, 5, 4, 3), (1, 1, 3, 5), (1, 1), ((0, 0), (0, 0)), (1, 1)),
    "nonsquare": ((2, 9, 6, 3), (3, 2, 3, 4), (1, 1), ((0, 0), (0, 0)), (1, 1)),
    "stride_gt_kernel": ((2, 11, 10, 3), (2, 2, 3, 4), (3, 3), ((0, 0), (0, 0)), (1, 1)),
    "one_sided_padding": ((1, 7, 7, 1), (3, 3, 1, 2), (2, 2), ((0, 1), (1, 0)), (1, 1)),
    "same_even_kernel": ((2, 8, 8, 3), (4, 4, 3, 5), (1, 1), ((1, 2), (1, 2)), (1, 1)),
    "dilation2": ((1, 9, 10, 3), (3, 3, 3, 4), (1, 1), ((2, 2), (2, 2)), (2, 2)),
    "one_channel": ((3, 5, 5, 1), (3, 3, 1, 1), (1, 1), ((1, 1), (1, 1)), (1, 1)),
    "wide": ((2, 6, 5, 40), (3, 3, 40, 70), (2, 1), ((1, 1), (0, 2)), (1, 2)),
}
POOL_CASES = {  # x_shape, pool, stride, padding
    "2x2_stride2": ((2, 7, 9, 3), (2, 2), (2, 2), ((0, 0), (0, 0))),
    "3x3_same": ((1, 5, 6, 1), (3, 3), (1, 1), ((1, 1), (1, 1))),
    "nonsquare_stride_gt_pool": ((2, 7, 5, 3), (2, 3), (3, 4), ((0, 1), (1, 0))),
    "same_even_pool": ((1, 4, 4, 2), (2, 2), (1, 1), ((0, 1), (0, 1))),
}
BN_CASES = [(1, 1), (5, 3), (64, 32), (300, 70), (1000, 7)]
MATMUL_CASES = [  # the contract: a[..., M, K] @ b[..., K, N], batch dims broadcast
    ((70, 50), (50, 90)), ((129, 130), (130, 131)), ((64, 32), (32, 64)), ((3, 17, 9), (9, 5)),
    ((2, 1, 5, 8), (3, 8, 7)), ((1, 1), (1, 1)), ((4, 0), (0, 3)),
]
MATMUL_1D_CASES = [((8,), (8, 6)), ((5, 4), (4,)), ((7,), (7,)), ((2, 5, 4), (4,))]  # numpy.matmul extension
DTYPES = [np.float64, np.float32]
DTYPE_IDS = ["f64", "f32"]
# relative error ||got - ref|| / ||ref|| allowed, by dtype and op kind
TOL = {np.float64: {"conv": 1e-12, "matmul": 1e-12, "pool": 1e-12, "bn": 1e-12},
       np.float32: {"conv": 1e-4, "matmul": 1e-4, "pool": 1e-5, "bn": 1e-5}}


def tol(dtype, kind: str) -> float:
    return TOL[np.dtype(dtype).type][kind]


def rel_err(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / (d if d > 0 else 1.0))


def f64(*arrays):
    """Host float64 copies (the reference computes in float64)."""
    return tuple(None if a is None else np.asarray(a, np.float64) for a in arrays)


def load_helper(name: str):
    """Import tests/kernels/<name>.py by path (tests/ is not a package under --import-mode=importlib)."""
    spec = importlib.util.spec_from_file_location(f"_gradflow_{name}", Path(__file__).with_name(f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
