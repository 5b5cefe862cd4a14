"""Launch configuration of the CUDA kernels, on the CPU: grids cover every output for odd shapes,
tile and split choices, argument validation (errors name the op and the shapes), and the
package importing without CuPy."""
from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from gradflow.kernels.cuda import _module, launch
from gradflow.kernels.cuda import conv as cuda_conv
from gradflow.kernels.cuda import gemm as cuda_gemm

ODD_CONVS = [  # x_shape, w_shape, stride, padding, dilation
    ((1, 1, 1, 1), (1, 1, 1, 1), (1, 1), ((0, 0), (0, 0)), (1, 1)),
    ((1, 7, 5, 3), (3, 2, 3, 5), (1, 1), ((1, 1), (0, 1)), (1, 1)),
    ((3, 9, 11, 1), (1, 1, 1, 33), (3, 2), ((0, 0), (0, 0)), (1, 1)),
    ((2, 17, 13, 6), (4, 4, 6, 7), (1, 1), ((1, 2), (1, 2)), (1, 1)),
    ((5, 8, 8, 64), (3, 3, 64, 65), (2, 2), ((1, 0), (0, 1)), (2, 1)),
    ((256, 32, 32, 3), (3, 3, 3, 32), (1, 1), ((1, 1), (1, 1)), (1, 1)),
    ((256, 16, 16, 32), (3, 3, 32, 64), (1, 1), ((1, 1), (1, 1)), (1, 1)),
    ((256, 8, 8, 64), (3, 3, 64, 128), (1, 1), ((1, 1), (1, 1)), (1, 1)),
]


def _grid_stride_visits(total: int, blocks: int) -> np.ndarray:
    """How often a grid-stride loop of ``blocks`` x BLOCK threads visits each of ``total`` indices."""
    visits = np.zeros(total, dtype=np.int64)
    threads = blocks * launch.BLOCK
    for t in range(min(threads, total)):
        visits[t::threads] += 1
    return visits


@pytest.mark.parametrize("total", [1, 7, 255, 256, 257, 4097, 100_003])
@pytest.mark.parametrize("sms", [1, 2, 132])
def test_grid_stride_loops_visit_every_element_once(total, sms):
    blocks = launch.grid_stride_blocks(total, sms)
    assert 1 <= blocks <= launch.BLOCKS_PER_SM * sms
    assert (_grid_stride_visits(total, blocks) == 1).all()


@pytest.mark.parametrize("case", ODD_CONVS, ids=lambda c: f"x{c[0]}w{c[1]}")
@pytest.mark.parametrize("kind", ["fwd", "bwd_input", "bwd_filter"])
@pytest.mark.parametrize("sms", [2, 132])
def test_conv_grids_cover_every_output_and_every_k(case, kind, sms):
    g = launch.conv_geometry("conv2d", *case)
    plan = launch.conv_launch("conv2d", kind, g, "f32", sms)
    M, N, K = launch.conv_gemm_shape(kind, g)
    gx, gy, gz = plan.grid
    t = plan.tile
    assert gx * t.bm >= M > (gx - 1) * t.bm  # every row of the output, no idle block row
    assert gy * t.bn >= N > (gy - 1) * t.bn
    assert gz == plan.splits
    assert plan.k_chunk % t.bk == 0 or plan.splits == 1
    assert plan.splits * plan.k_chunk >= K > (plan.splits - 1) * plan.k_chunk  # every pixel, no empty split
    if kind != "bwd_filter":
        assert plan.splits == 1
    assert plan.kernel.name == f"conv2d_{kind}_f32_{t.name}"
    assert plan.block == (256, 1, 1)


def test_conv_geometry_matches_the_contract_formula():
    g = launch.conv_geometry("conv2d", (2, 9, 10, 3), (3, 2, 3, 4), (2, 3), ((1, 0), (2, 1)), (2, 1))
    assert (g.OH, g.OW) == ((9 + 1 + 0 - 2 * 2 - 1) // 2 + 1, (10 + 2 + 1 - 1 * 1 - 1) // 3 + 1)
    assert g.y_shape == (2, g.OH, g.OW, 4)
    assert g.kernel_args() == (2, 9, 10, 3, 3, 2, 4, g.OH, g.OW, 2, 3, 1, 2, 2, 1)


def test_conv_tile_choice():
    # narrow outputs (F <= 32) take the 128x32 tile; small or under-filled GEMMs 64x64; else 128x64
    assert launch.choose_conv_tile(262144, 32, 132).name == "128x32"
    assert launch.choose_conv_tile(65536, 64, 132).name == "128x64"
    assert launch.choose_conv_tile(16384, 128, 132).name == "128x64"
    assert launch.choose_conv_tile(576, 128, 132).name == "64x64"
    assert launch.choose_conv_tile(27, 64, 132).name == "64x64"
    assert launch.choose_conv_tile(4096, 64, 132).name == "64x64"


@pytest.mark.parametrize("case", ODD_CONVS[-3:], ids=["B1", "B2", "B3"])
def test_backward_filter_splits_k_to_fill_the_gpu(case):
    g = launch.conv_geometry("conv2d_backward_filter", *case)
    plan = launch.conv_launch("conv2d_backward_filter", "bwd_filter", g, "f32", 132)
    assert plan.splits > 1
    blocks = plan.grid[0] * plan.grid[1] * plan.grid[2]
    assert blocks >= 132  # at least one wave on an H100
    assert plan.k_chunk >= launch.MIN_KTILES_PER_SPLIT * plan.tile.bk


def test_splitk_plan_keeps_short_k_whole():
    assert launch.splitk_plan(27, 32, 40, launch.CONV_TILES["128x32"], 132) == (1, 40)


@pytest.mark.parametrize("M,C", [(1, 1), (5, 3), (64, 32), (1000, 7), (262144, 32), (16384, 128), (3, 1000)])
@pytest.mark.parametrize("sms", [2, 132])
def test_batch_norm_plan_covers_every_row_and_channel(M, C, sms):
    p = launch.batch_norm_plan("batch_norm_forward", M, C, sms)
    assert p.splits * p.rows_per_split >= M > (p.splits - 1) * p.rows_per_split
    assert p.partial_grid == (-(-C // 32), p.splits, 1)
    assert p.finalize_grid[0] * 8 >= C  # one warp per channel, 8 warps per block
    assert (_grid_stride_visits(M * C, p.elementwise_grid[0]) == 1).all() if M * C < 10**5 else True


def test_batch_norm_plan_rejects_empty_input():
    with pytest.raises(ValueError, match=r"batch_norm_forward.*\[0, 4\]"):
        launch.batch_norm_plan("batch_norm_forward", 0, 4)


@pytest.mark.parametrize("a,b", [
    ((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)),
    ((3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 6)), ((1, 3, 4), (7, 4, 2)), ((0, 3, 4), (4, 2)), ((3, 0), (0, 2)),
])
def test_matmul_shapes_follow_numpy(a, b):
    s = launch.matmul_shapes("matmul", a, b)
    assert s.out_shape == np.matmul(np.empty(a), np.empty(b)).shape
    assert s.batch == np.broadcast_shapes(s.a_batch, s.b_batch)


def test_matmul_shape_errors_name_the_op_and_shapes():
    with pytest.raises(ValueError, match=r"matmul: inner dimensions differ: a \(3, 4\) has K=4, b \(5, 6\) has K=5"):
        launch.matmul_shapes("matmul", (3, 4), (5, 6))
    with pytest.raises(ValueError, match=r"matmul: batch dimensions of a \(2, 3, 4\) and b \(3, 4, 5\)"):
        launch.matmul_shapes("matmul", (2, 3, 4), (3, 4, 5))
    with pytest.raises(ValueError, match="at least 1-D"):
        launch.matmul_shapes("matmul", (), (3,))


def test_batch_stride():
    assert launch.batch_stride((2, 3), (2, 3), 4, 5) == 20
    assert launch.batch_stride((3,), (2, 3), 4, 5) is None  # partly broadcast: expanded
    assert launch.batch_stride((1, 1), (2, 3), 4, 5) == 0
    assert launch.batch_stride((), (2, 3), 4, 5) == 0
    assert launch.batch_stride((1, 3), (1, 3), 4, 5) == 20


def test_matmul_chunks_cover_large_batches():
    chunks = launch.matmul_chunks("matmul", 130, 7, 150_000, launch.MATMUL_TILES["f32"])
    assert [c[1:] for c in chunks] == [(0, 65535), (65535, 65535), (131070, 18930)]
    assert all(c[0][:2] == (2, 1) for c in chunks)


def test_tf32_only_when_allowed_float32_and_ampere_or_newer():
    assert launch.use_tf32(np.float32, True, 90)
    assert not launch.use_tf32(np.float32, False, 90)
    assert not launch.use_tf32(np.float64, True, 90)
    assert not launch.use_tf32(np.float32, True, 75)


@pytest.mark.parametrize("args,match", [
    (((2, 5, 5, 3), (3, 3, 4, 8), (1, 1), ((0, 0), (0, 0)), (1, 1)),
     r"conv2d_forward: w has 4 input channels but x has 3; x \(2, 5, 5, 3\), w \(3, 3, 4, 8\)"),
    (((2, 2, 2, 3), (3, 3, 3, 8), (1, 1), ((0, 0), (0, 0)), (1, 1)),
     r"conv2d_forward: the 3x3 kernel .* does not fit the 2x2 input"),
    (((2, 5, 5, 3), (3, 3, 3, 8), (0, 1), ((0, 0), (0, 0)), (1, 1)), r"conv2d_forward: stride must be >= 1"),
    (((2, 5, 5, 3), (3, 3, 3, 8), (1, 1), ((0, -1), (0, 0)), (1, 1)), r"conv2d_forward: padding must be non-negative"),
    (((2, 5, 5, 3), (3, 3, 3, 8), (1, 1), (1, 1), (1, 1)), r"conv2d_forward: padding must be \(\(top, bottom\)"),
    (((5, 5, 3), (3, 3, 3, 8), (1, 1), ((0, 0), (0, 0)), (1, 1)), r"conv2d_forward: x must be 4-D \[N, H, W, C\]"),
])
def test_conv_geometry_errors(args, match):
    with pytest.raises(ValueError, match=match):
        launch.conv_geometry("conv2d_forward", *args)


def test_conv_dy_shape_error_names_expected_and_actual():
    with pytest.raises(ValueError, match=r"conv2d_backward_input: dy must have shape \(2, 3, 3, 8\) .* got \(2, 3, 3, 7\)"):
        launch.conv_geometry("conv2d_backward_input", (2, 5, 5, 3), (3, 3, 3, 8), (1, 1), ((0, 0), (0, 0)), (1, 1),
                             dy_shape=(2, 3, 3, 7))


def test_pool_geometry():
    g = launch.pool_geometry("max_pool2d_forward", (2, 7, 5, 3), (2, 3), (3, 4), ((0, 1), (1, 0)))
    assert (g.OH, g.OW) == ((7 + 1 - 2) // 3 + 1, (5 + 1 - 3) // 4 + 1)
    assert g.kernel_args() == (2, 7, 5, 3, g.OH, g.OW, 2, 3, 3, 4, 0, 1)
    with pytest.raises(ValueError, match=r"max_pool2d_forward: the 4x4 pool does not fit the 3x3 input"):
        launch.pool_geometry("max_pool2d_forward", (1, 3, 3, 1), (4, 4), (1, 1), ((0, 0), (0, 0)))
    with pytest.raises(ValueError, match=r"avg_pool2d_backward: dy must have shape \(1, 2, 2, 1\) for x \(1, 4, 4, 1\)"):
        launch.pool_geometry("avg_pool2d_backward", (1, 4, 4, 1), (2, 2), (2, 2), ((0, 0), (0, 0)), dy_shape=(1, 2, 1, 1))


def test_kernel_names_are_unique_and_cover_every_signature():
    refs = launch.all_kernels()
    names = [r.name for r in refs]
    assert len(names) == len(set(names))
    assert {r.family for r in refs} == set(launch.SIGNATURES)
    assert {r.file for r in refs} == set(launch.KERNEL_FILES)
    tf32 = launch.kernel_ref("matmul_tf32", "f32")
    assert tf32.defines == ("GRADFLOW_WMMA",) and tf32.file == "matmul.cu"
    with pytest.raises(ValueError, match="tile required"):
        launch.kernel_ref("conv2d_fwd", "f32")
    with pytest.raises(ValueError, match="unknown tile"):
        launch.kernel_ref("conv2d_fwd", "f32", "7x7")


def test_pack_args_checks_types_and_converts_scalars():
    ref = launch.kernel_ref("conv2d_splitk_reduce", "f32")
    ws, out = np.zeros((2, 3), np.float32), np.zeros(3, np.float32)
    packed = launch.pack_args(ref, (ws, out, 2, 3))
    assert [type(v) for v in packed[2:]] == [np.int32, np.int64]
    with pytest.raises(TypeError, match=r"conv2d_splitk_reduce_f32: takes 4 arguments, got 3"):
        launch.pack_args(ref, (ws, out, 2))
    with pytest.raises(TypeError, match=r"conv2d_splitk_reduce_f32: argument 1 must be a float32 device array, got ndarray of float64"):
        launch.pack_args(ref, (ws, out.astype(np.float64), 2, 3))
    with pytest.raises(ValueError, match=r"argument 0 \(shape \(3, 2\)\) must be C-contiguous"):
        launch.pack_args(ref, (ws.T, out, 2, 3))
    with pytest.raises(ValueError, match=r"argument 2 = 4294967296 does not fit a 32-bit int"):
        launch.pack_args(ref, (ws, out, 2**32, 3))
    bn = launch.kernel_ref("bn_stats_finalize", "f64")
    v = np.zeros(4)
    assert type(launch.pack_args(bn, (v, v, v, 1, 4, 10, 1e-5))[-1]) is np.float64
    mp = launch.kernel_ref("maxpool_bwd", "f32")
    with pytest.raises(TypeError, match="argument 1 must be a int64 device array"):
        launch.pack_args(mp, (np.zeros(1, np.float32), np.zeros(1, np.int32), np.zeros(1, np.float32)) + (1,) * 12)


def test_dtype_and_out_checks_name_the_op():
    with pytest.raises(TypeError, match=r"conv2d_forward: the cuda kernels take float32 or float64 arrays, got dtype float16"):
        launch.dtype_suffix("conv2d_forward", np.float16)
    launch.check_out("matmul", np.empty((2, 3), np.float32), (2, 3), np.float32)
    with pytest.raises(ValueError, match=r"matmul: out must be a C-contiguous float32 array of shape \(2, 3\), "
                                         r"got ndarray of shape \(3, 2\) and dtype float32"):
        launch.check_out("matmul", np.empty((3, 2), np.float32), (2, 3), np.float32)
    with pytest.raises(ValueError, match=r"not C-contiguous"):
        launch.check_out("matmul", np.empty((3, 2), np.float32).T, (2, 3), np.float32)
    with pytest.raises(ValueError, match=r"dtype float64"):
        launch.check_out("matmul", np.empty((2, 3)), (2, 3), np.float32)


class _HostRuntime:
    """Treats NumPy arrays as device arrays but launches nothing: argument checks only."""

    name = "host-check"
    xp = np

    def is_device_array(self, arr):
        return isinstance(arr, np.ndarray)

    def sm_count(self):
        return 2

    def compute_capability(self):
        return 0

    def kernel(self, ref):  # pragma: no cover - every test here fails before a launch
        raise AssertionError(f"unexpected launch of {ref.name}")


def test_launchers_reject_host_arrays_and_bad_out_before_launching():
    rt = _HostRuntime()
    x, w = np.zeros((1, 5, 5, 3), np.float32), np.zeros((3, 3, 3, 4), np.float32)
    with _module.using_runtime(rt):
        with pytest.raises(TypeError, match=r"conv2d_forward \(cuda kernels\) takes CuPy arrays, but x is a builtins.list"):
            cuda_conv.conv2d_forward([[1.0]], w, None, (1, 1), ((0, 0), (0, 0)), (1, 1))
        with pytest.raises(ValueError, match=r"conv2d_forward: out must be a C-contiguous float32 array of shape \(1, 3, 3, 4\)"):
            cuda_conv.conv2d_forward(x, w, None, (1, 1), ((0, 0), (0, 0)), (1, 1), out=np.empty((1, 3, 3, 5), np.float32))
        with pytest.raises(ValueError, match=r"conv2d_forward: b must have shape \(4,\)"):
            cuda_conv.conv2d_forward(x, w, np.zeros(3, np.float32), (1, 1), ((0, 0), (0, 0)), (1, 1))
        with pytest.raises(TypeError, match=r"matmul: the cuda kernels take float32 or float64 arrays, got dtype int64"):
            cuda_gemm.matmul(np.zeros((2, 2), np.int64), np.zeros((2, 2), np.int64))


def test_importing_the_package_does_not_import_cupy():
    code = ("import sys, gradflow.kernels.cuda, gradflow.kernels.cuda.vendor; "
            "assert 'cupy' not in sys.modules, 'cupy imported at import time'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed here")
def test_calling_without_cupy_is_a_clear_runtime_error():
    import gradflow.kernels.cuda as cuda
    import gradflow.kernels.cuda.vendor as vendor

    for fn in (cuda.matmul, vendor.matmul):
        with pytest.raises(RuntimeError, match=r"matmul: the cuda kernels need CuPy, which is not importable.*pip install"):
            fn(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32))


def test_package_exports_every_contract_op():
    import gradflow.kernels.cuda as cuda
    import gradflow.kernels.cuda.vendor as vendor
    from gradflow.dispatch import HOT_OPS

    for op in HOT_OPS:
        assert callable(getattr(cuda, op)), op
        assert callable(getattr(vendor, op)), op


def test_fused_activation_arguments_are_checked_before_cupy_is_needed():
    """activation= is validated first, so a typo is a ValueError naming the op even without a GPU."""
    import gradflow.kernels.cuda as cuda
    import gradflow.kernels.cuda.vendor as vendor

    x, w = np.zeros((1, 4, 4, 2), np.float32), np.zeros((3, 3, 2, 4), np.float32)
    for mod in (cuda, vendor):
        with pytest.raises(ValueError, match="conv2d_forward: activation must be"):
            mod.conv2d_forward(x, w, None, (1, 1), ((0, 0), (0, 0)), (1, 1), activation="tanh")
        with pytest.raises(ValueError, match="batch_norm_forward: activation must be"):
            mod.batch_norm_forward(np.zeros((4, 2), np.float32), np.ones(2), np.zeros(2), 1e-3, activation="elu")


def test_vendor_bias_act_backward_expressions_match_reference():
    """The CuPy expressions behind cuda/vendor bias_act_backward, run with NumPy as the array module."""
    from gradflow.kernels import reference
    from gradflow.kernels.cuda import _arrayops

    rng = np.random.default_rng(5)
    dy, y = rng.standard_normal((50, 32)), np.maximum(rng.standard_normal((50, 32)), 0)
    eff, db = _arrayops.bias_act_backward(np, dy, y, np.empty_like(dy))
    want_eff, want_db = reference.bias_act_backward(dy, y)
    np.testing.assert_allclose(eff, want_eff, rtol=1e-12)
    np.testing.assert_allclose(db, want_db, rtol=1e-12)
    eff, db = _arrayops.bias_act_backward(np, dy, None, None)
    assert eff is dy
    np.testing.assert_allclose(db, dy.sum(0), rtol=1e-12)
