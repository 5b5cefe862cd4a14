"""CPU hot-path kernels side by side: reference, numpy, numba and PyTorch's own op, at the model shapes.

For every kernel and shape the implementations run interleaved in one process (after warm-up),
and the table gives the median time, GFLOP/s (conv, matmul) or GB/s of compulsory traffic
(pooling, batch norm), the percentage of this machine's measured peak (np.matmul float32 at 2048
for flops, a large np.copyto for bandwidth; measured before and after, the better kept) and torch's
time divided by ours (>1: we are faster).
Then the first-call (compile) time of every Numba kernel, measured in a subprocess with an empty
NUMBA_CACHE_DIR.

Idle threads of one library spinning while the next one runs (OpenBLAS after np.matmul, the
OpenMP pools of Numba and PyTorch) would otherwise halve everyone's speed on 2 cores in an
interleaved run, so the script re-executes itself with OMP_WAIT_POLICY=PASSIVE and
OPENBLAS_THREAD_TIMEOUT=4 unless ``--spin`` is given.

    python benchmarks/bench_kernels.py [--quick] [--repeats N] [--only conv] [--markdown FILE]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

NO_PAD = ((0, 0), (0, 0))
SAME1 = ((1, 1), (1, 1))
#: (label, x shape, w shape, padding) at batch 128
CONVS = [
    ("A conv1 28x28x1->32", (128, 28, 28, 1), (3, 3, 1, 32), NO_PAD),
    ("A conv2 13x13x32->64", (128, 13, 13, 32), (3, 3, 32, 64), NO_PAD),
    ("B conv1 32x32x3->32", (128, 32, 32, 3), (3, 3, 3, 32), SAME1),
    ("B conv2 16x16x32->64", (128, 16, 16, 32), (3, 3, 32, 64), SAME1),
    ("B conv3 8x8x64->128", (128, 8, 8, 64), (3, 3, 64, 128), SAME1),
]
POOLS = [
    ("A pool1 26x26x32", (128, 26, 26, 32)),
    ("A pool2 11x11x64", (128, 11, 11, 64)),
    ("B pool1 32x32x32", (128, 32, 32, 32)),
    ("B pool2 16x16x64", (128, 16, 16, 64)),
    ("B pool3 8x8x128", (128, 8, 8, 128)),
]
BNS = [("B bn1 131072x32", (128 * 32 * 32, 32)), ("B bn2 32768x64", (128 * 16 * 16, 64)),
       ("B bn3 8192x128", (128 * 8 * 8, 128))]
MATMULS = [("matmul 1024", 1024), ("matmul 2048", 2048)]
#: model B's batch norm -> ReLU -> 2x2 max-pool blocks (the fused op)
BN_POOLS = [("B bn+relu+pool1 32x32x32", (128, 32, 32, 32)), ("B bn+relu+pool2 16x16x64", (128, 16, 16, 64)),
            ("B bn+relu+pool3 8x8x128", (128, 8, 8, 128))]
#: a reference call slower than this is timed once and not repeated
REFERENCE_BUDGET_S = 2.0


# -- timing -----------------------------------------------------------------------------------
def interleaved(fns: dict, repeats: int, warmup: int = 2) -> dict:
    """Median seconds per call for each function, the functions taking turns within each repeat."""
    times = {name: [] for name in fns}
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def measure_peaks(repeats: int) -> tuple[float, float]:
    """(float32 GFLOP/s of np.matmul at 2048, GB/s of np.copyto on 256 MiB arrays, read + write)."""
    rng = np.random.default_rng(0)
    a, b = rng.random((2048, 2048), dtype=np.float32), rng.random((2048, 2048), dtype=np.float32)
    c = np.empty_like(a)
    t = interleaved({"mm": lambda: np.matmul(a, b, out=c)}, max(5, repeats // 2))["mm"]
    src = rng.random(64 * 1024 * 1024, dtype=np.float32)
    dst = np.empty_like(src)
    tc = interleaved({"copy": lambda: np.copyto(dst, src)}, max(5, repeats // 2))["copy"]
    return 2 * 2048 ** 3 / t / 1e9, 2 * src.nbytes / tc / 1e9


# -- the contenders ---------------------------------------------------------------------------
def load_impls():
    from gradflow.kernels import cpu, reference, vectorized

    return {"reference": reference, "numpy": vectorized, "numba": cpu}


def load_torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count() or 1)
    return torch


def t_nhwc(torch, a):
    """NHWC NumPy array -> NCHW torch tensor in channels_last memory (no copy)."""
    return torch.from_numpy(a).permute(0, 3, 1, 2)


def conv_cases(impls, torch, rng, dtype):
    for label, xs, ws, pad in CONVS:
        x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
        geo = ((1, 1), pad, (1, 1))
        y = impls["numpy"].conv2d_forward(x, w, None, *geo)
        dy = rng.standard_normal(y.shape).astype(dtype)
        flops = 2 * y.size * ws[0] * ws[1] * ws[2]
        passes = {
            "fwd": lambda m: (lambda: m.conv2d_forward(x, w, None, *geo)),
            "bwd_input": lambda m: (lambda: m.conv2d_backward_input(dy, w, xs, *geo)),
            "bwd_filter": lambda m: (lambda: m.conv2d_backward_filter(dy, x, ws, *geo)),
        }
        tfn = {}
        if torch is not None:
            tx, tdy = t_nhwc(torch, x), t_nhwc(torch, dy)
            tw = torch.from_numpy(w).permute(3, 2, 0, 1).contiguous(memory_format=torch.channels_last)
            p = pad[0][0]
            bw = torch.ops.aten.convolution_backward
            tfn = {
                "fwd": lambda: torch.nn.functional.conv2d(tx, tw, None, 1, p),
                "bwd_input": lambda: bw(tdy, tx, tw, None, [1, 1], [p, p], [1, 1], False, [0, 0], 1,
                                        [True, False, False]),
                "bwd_filter": lambda: bw(tdy, tx, tw, None, [1, 1], [p, p], [1, 1], False, [0, 0], 1,
                                         [False, True, False]),
            }
        for name, make in passes.items():
            yield "conv2d_" + name, label, "flops", flops, {k: make(m) for k, m in impls.items()}, tfn.get(name)


def pool_cases(impls, torch, rng, dtype):
    geo = ((2, 2), (2, 2), NO_PAD)
    for label, xs in POOLS:
        x = rng.standard_normal(xs).astype(dtype)
        y, arg = impls["numpy"].max_pool2d_forward(x, *geo)
        dy = rng.standard_normal(y.shape).astype(dtype)
        it = x.itemsize
        fwd_bytes = x.size * it + y.size * (it + 8)
        bwd_bytes = dy.size * (it + 8) + x.size * it
        tf = tb = None
        if torch is not None:
            tx, tdy, targ = t_nhwc(torch, x), t_nhwc(torch, dy), t_nhwc(torch, arg)
            tf = lambda: torch.nn.functional.max_pool2d(tx, 2, 2, return_indices=True)  # noqa: E731
            tb = lambda: torch.ops.aten.max_pool2d_with_indices_backward(  # noqa: E731
                tdy, tx, [2, 2], [2, 2], [0, 0], [1, 1], False, targ)
        yield ("max_pool2d_forward", label, "bytes", fwd_bytes,
               {k: (lambda m=m: m.max_pool2d_forward(x, *geo)) for k, m in impls.items()}, tf)
        yield ("max_pool2d_backward", label, "bytes", bwd_bytes,
               {k: (lambda m=m: m.max_pool2d_backward(dy, arg, xs, *geo)) for k, m in impls.items()}, tb)


def bn_cases(impls, torch, rng, dtype):
    for label, (M, C) in BNS:
        x = (rng.standard_normal((M, C)) * 2 + 0.5).astype(dtype)
        gamma, beta = rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)
        dy = rng.standard_normal((M, C)).astype(dtype)
        _, mean, inv_std = impls["numpy"].batch_norm_forward(x, gamma, beta, 1e-3)
        var = (1.0 / inv_std.astype(np.float64) ** 2 - 1e-3).astype(dtype)
        nbytes = x.nbytes
        tf = tb = ti = None
        if torch is not None:
            n = M // ({32: 1024, 64: 256, 128: 64}[C])
            side = int(round((M // n) ** 0.5))
            tx = t_nhwc(torch, x.reshape(n, side, side, C))
            tdy = t_nhwc(torch, dy.reshape(n, side, side, C))
            tg, tbeta = torch.from_numpy(gamma), torch.from_numpy(beta)
            tm, tv, tinv = torch.from_numpy(mean), torch.from_numpy(var), torch.from_numpy(inv_std)
            tf = lambda: torch.ops.aten.native_batch_norm(tx, tg, tbeta, None, None, True, 0.1, 1e-3)  # noqa: E731
            ti = lambda: torch.ops.aten.native_batch_norm(tx, tg, tbeta, tm, tv, False, 0.1, 1e-3)  # noqa: E731
            tb = lambda: torch.ops.aten.native_batch_norm_backward(  # noqa: E731
                tdy, tx, tg, None, None, tm, tinv, True, 1e-3, [True, True, True])
        yield ("batch_norm_forward", label, "bytes", 2 * nbytes,
               {k: (lambda m=m: m.batch_norm_forward(x, gamma, beta, 1e-3)) for k, m in impls.items()}, tf)
        yield ("batch_norm_inference", label, "bytes", 2 * nbytes,
               {k: (lambda m=m: m.batch_norm_inference(x, gamma, beta, mean, var, 1e-3)) for k, m in impls.items()}, ti)
        yield ("batch_norm_backward", label, "bytes", 3 * nbytes,
               {k: (lambda m=m: m.batch_norm_backward(dy, x, gamma, mean, inv_std)) for k, m in impls.items()}, tb)


def bn_pool_cases(impls, torch, rng, dtype):
    """The fused op against PyTorch's three ops in a row (batch norm, ReLU, max-pool with indices)."""
    for label, xs in BN_POOLS:
        C = xs[3]
        x = (rng.standard_normal(xs) * 2 + 0.5).astype(dtype)
        gamma, beta = rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)
        y, arg, mean, inv_std = impls["numpy"].bn_relu_max_pool_forward(x, gamma, beta, 1e-3, (2, 2))
        dy = rng.standard_normal(y.shape).astype(dtype)
        it = x.itemsize
        fwd_bytes = 2 * x.nbytes + y.size * (it + 8)  # x read twice (statistics, then pooling), y and argmax written
        bwd_bytes = y.size * (2 * it + 8) + 2 * x.nbytes  # pooled dy, y, argmax read; x read, dx written
        tf = tb = None
        if torch is not None:
            tx, tdy = t_nhwc(torch, x), t_nhwc(torch, dy)
            tg, tbeta = torch.from_numpy(gamma), torch.from_numpy(beta)
            aten = torch.ops.aten

            def tf():
                yb, m, s = aten.native_batch_norm(tx, tg, tbeta, None, None, True, 0.1, 1e-3)
                yr = torch.relu(yb)
                return aten.max_pool2d_with_indices(yr, [2, 2], [2, 2]), yb, yr, m, s

            (_, targ), tyb, tyr, tm, ts = tf()

            def tb():
                g = aten.max_pool2d_with_indices_backward(tdy, tyr, [2, 2], [2, 2], [0, 0], [1, 1], False, targ)
                g = aten.threshold_backward(g, tyr, 0)
                return aten.native_batch_norm_backward(g, tx, tg, None, None, tm, ts, True, 1e-3, [True, True, True])
        yield ("bn_relu_max_pool_forward", label, "bytes", fwd_bytes,
               {k: (lambda m=m: m.bn_relu_max_pool_forward(x, gamma, beta, 1e-3, (2, 2)))
                for k, m in impls.items()}, tf)
        yield ("bn_relu_max_pool_backward", label, "bytes", bwd_bytes,
               {k: (lambda m=m: m.bn_relu_max_pool_backward(dy, y, arg, x, gamma, mean, inv_std, (2, 2)))
                for k, m in impls.items()}, tb)


def matmul_cases(impls, torch, rng, dtype):
    for label, n in MATMULS:
        a, b = rng.standard_normal((n, n)).astype(dtype), rng.standard_normal((n, n)).astype(dtype)
        fns = {k: (lambda m=m: m.matmul(a, b)) for k, m in impls.items()}
        tfn = None
        if torch is not None:
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            tfn = lambda: torch.matmul(ta, tb)  # noqa: E731
        yield "matmul", label, "flops", 2 * n ** 3, fns, tfn


# attn: fused attention (model T's shape: batch 32, 200 steps, 2 heads of 32) and layer norm
ATTENTIONS = [("T attention 32x200x2x32", (32, 200, 2, 32)), ("causal 8x512x4x64", (8, 512, 4, 64))]
LAYER_NORMS = [("T layer norm 6400x32", (32 * 200, 32)), ("layer norm 8192x512", (8192, 512))]


def _fused_impls():
    from gradflow.kernels import cpu, reference_fused, vectorized_fused

    return {"reference": reference_fused, "numpy": vectorized_fused, "numba": cpu}


def attention_cases(impls, torch, rng, dtype):
    impls = _fused_impls()
    for label, (B, T, N, H) in ATTENTIONS:
        causal = label.startswith("causal")
        q, k, v, do = (rng.standard_normal((B, T, N, H)).astype(dtype) for _ in range(4))
        o, lse = impls["numpy"].attention_forward(q, k, v, is_causal=causal)
        flops = 4 * B * N * T * T * H // (2 if causal else 1)
        tf = tb = None
        if torch is not None:
            tq, tk, tv = (torch.from_numpy(a).transpose(1, 2) for a in (q, k, v))
            sdpa = torch.nn.functional.scaled_dot_product_attention
            tf = lambda: sdpa(tq, tk, tv, is_causal=causal)  # noqa: E731
            gq, gk, gv = (a.clone().requires_grad_() for a in (tq, tk, tv))
            tdo = torch.from_numpy(do).transpose(1, 2)

            def tb():
                out = sdpa(gq, gk, gv, is_causal=causal)
                torch.autograd.grad(out, (gq, gk, gv), tdo)
        yield ("attention_forward", label, "flops", flops,
               {n: (lambda m=m: m.attention_forward(q, k, v, is_causal=causal)) for n, m in impls.items()}, tf)
        yield ("attention_backward", label, "flops", 2 * flops,
               {n: (lambda m=m: m.attention_backward(do, q, k, v, o, lse, is_causal=causal)) for n, m in impls.items()},
               tb)


def layer_norm_cases(impls, torch, rng, dtype):
    impls = _fused_impls()
    for label, (M, C) in LAYER_NORMS:
        x, dy = rng.standard_normal((M, C)).astype(dtype), rng.standard_normal((M, C)).astype(dtype)
        gamma, beta = rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)
        _, mean, inv = impls["numpy"].layer_norm_forward(x, gamma, beta, 1e-6)
        tf = tb = None
        if torch is not None:
            tx, tdy, tg, tbeta = (torch.from_numpy(a) for a in (x, dy, gamma, beta))
            tm, ti = torch.from_numpy(mean).reshape(M, 1), torch.from_numpy(inv).reshape(M, 1)
            tf = lambda: torch.ops.aten.native_layer_norm(tx, [C], tg, tbeta, 1e-6)  # noqa: E731
            tb = lambda: torch.ops.aten.native_layer_norm_backward(  # noqa: E731
                tdy, tx, [C], tm, ti, tg, tbeta, [True, True, True])
        yield ("layer_norm_forward", label, "bytes", 2 * x.nbytes,
               {n: (lambda m=m: m.layer_norm_forward(x, gamma, beta, 1e-6)) for n, m in impls.items()}, tf)
        yield ("layer_norm_backward", label, "bytes", 3 * x.nbytes,
               {n: (lambda m=m: m.layer_norm_backward(dy, x, gamma, mean, inv)) for n, m in impls.items()}, tb)
# tfm: dropout on a counter-based keep mask (model T's residual branches)
DROPOUTS = [("T dropout 32x200x32", (32, 200, 32))]


def dropout_cases(impls, torch, rng, dtype):
    impls = _fused_impls()
    for label, shape in DROPOUTS:
        x = rng.standard_normal(shape).astype(dtype)
        tf = None
        if torch is not None:
            tx = torch.from_numpy(x)
            tf = lambda: torch.nn.functional.dropout(tx, 0.1, training=True)  # noqa: E731
        yield ("dropout_apply", label, "bytes", 2 * x.nbytes,
               {n: (lambda m=m: m.dropout_apply(x, 0.1, 12345)) for n, m in impls.items()}, tf)


# convk: depthwise conv2d (MobileNet's 3x3 blocks), its own kernel modules
DEPTHWISE = [("M dwconv 3x3 32x32x64", (64, 32, 32, 64), (3, 3, 64, 1), 1),
             ("M dwconv 3x3/2 32x32x128", (64, 32, 32, 128), (3, 3, 128, 1), 2)]


def depthwise_cases(impls, torch, rng, dtype):
    from gradflow.kernels import depthwise as dw_np  # noqa: PLC0415 - lazy like load_impls: Numba on demand
    from gradflow.kernels.cpu import depthwise as dw_nb  # noqa: PLC0415 - lazy like load_impls

    mods = {"reference": ("reference_forward", "reference_backward_input", "reference_backward_filter"),
            "numpy": ("numpy_forward", "numpy_backward_input", "numpy_backward_filter")}
    for label, xs, ws, s in DEPTHWISE:
        x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
        pad = (1, 1) if s == 1 else (0, 1)  # Keras's 'same' for a 3x3 kernel on an even size
        geo = ((s, s), (pad, pad), (1, 1))
        y = dw_nb.depthwise_conv2d_forward(x, w, *geo)
        dy = rng.standard_normal(y.shape).astype(dtype)
        fns = {k: tuple(getattr(dw_np, n) for n in names) for k, names in mods.items()}
        fns["numba"] = (dw_nb.depthwise_conv2d_forward, dw_nb.depthwise_conv2d_backward_input,
                        dw_nb.depthwise_conv2d_backward_filter)
        flops = 2 * y.size * ws[0] * ws[1]
        passes = {"fwd": lambda f: (lambda: f[0](x, w, *geo)), "bwd_input": lambda f: (lambda: f[1](dy, w, xs, *geo)),
                  "bwd_filter": lambda f: (lambda: f[2](dy, x, ws, *geo))}
        for name, make in passes.items():
            yield "depthwise_" + name, label, "flops", flops, {k: make(f) for k, f in fns.items()}, None


# bnconv: model U's transposed convs (bias + ReLU epilogue) and model M's batch norm -> ReLU backward
CONV_TRANSPOSES = [("U convT 7x7x32->14x14x32", (128, 7, 7, 32), (3, 3, 32, 32)),
                   ("U convT 14x14x32->28x28x32", (128, 14, 14, 32), (3, 3, 32, 32))]
BN_RELUS = [("M bn+relu 16x16x32", (64 * 16 * 16, 32)), ("M bn+relu 16x16x64", (64 * 16 * 16, 64))]


def bnconv_cases(impls, torch, rng, dtype):
    from gradflow.kernels import conv_transpose as ct_np  # noqa: PLC0415 - lazy like load_impls: Numba on demand
    from gradflow.kernels.cpu import conv_transpose as ct_nb  # noqa: PLC0415 - lazy like load_impls

    fns = {"reference": ct_np.reference_forward, "numpy": ct_np.numpy_forward, "numba": ct_nb.conv2d_transpose_forward}
    for label, xs, ws in CONV_TRANSPOSES:
        x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
        b = rng.standard_normal(ws[2]).astype(dtype)
        ys = (xs[0], 2 * xs[1], 2 * xs[2], ws[2])
        geo = ((2, 2), ((1, 0), (1, 0)), (1, 1))  # Keras's 'same' stride 2 for a 3x3 kernel
        tf = None
        if torch is not None:
            tx, tw, tb = t_nhwc(torch, x), torch.from_numpy(w).permute(3, 2, 0, 1), torch.from_numpy(b)
            tf = lambda: torch.relu(torch.nn.functional.conv_transpose2d(  # noqa: E731
                tx, tw, tb, stride=2, padding=1, output_padding=1))
        flops = 2 * x.size * ws[0] * ws[1] * ws[2]
        yield ("conv2d_transpose_forward", label, "flops", flops,
               {k: (lambda f=f: f(x, w, b, ys, *geo, activation="relu")) for k, f in fns.items()}, tf)
    for label, (M, C) in BN_RELUS:
        x = (rng.standard_normal((M, C)) * 2 + 0.5).astype(dtype)
        gamma, beta = rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)
        dy = rng.standard_normal((M, C)).astype(dtype)
        y, mean, inv_std = impls["numpy"].batch_norm_forward(x, gamma, beta, 1e-3, activation="relu")
        yield ("batch_norm_backward relu", label, "bytes", 4 * x.nbytes,
               {k: (lambda m=m: m.batch_norm_backward(dy, x, gamma, mean, inv_std, y=y)) for k, m in impls.items()},
               None)


# adam: one Adam step (float32) through gradflow's fused kernel and its NumPy path, and torch.optim.Adam
OPTIMIZER_STEPS = [("L embedding 20000x128 (2.56M)", [(20000, 128)]), ("100k params, 1 tensor", [(1000, 100)]),
                   ("100k params, 20 tensors (flat)", [(50, 100)] * 20)]


def optimizer_cases(impls, torch, rng, dtype):
    import gradflow as gf  # noqa: PLC0415 - lazy like load_impls
    from gradflow import config, optimizers  # noqa: PLC0415 - lazy like load_impls

    for label, shapes in OPTIMIZER_STEPS:
        ws = [rng.standard_normal(s).astype(dtype) for s in shapes]
        gs = [rng.standard_normal(s).astype(dtype) for s in shapes]

        def make(kernels, ws=ws, gs=gs):
            params = [gf.Parameter(w.copy()) for w in ws]
            for p, g in zip(params, gs):
                p.grad = g
            opt = optimizers.Adam(1e-3)

            def step():
                before, config.kernels = config.kernels, kernels
                try:
                    opt.step(params)
                finally:
                    config.kernels = before
            return step

        def reference(ws=ws, gs=gs):  # Keras's Adam written plainly, float64, one step from zero slots
            for w, g in zip(ws, gs):
                m, v = 0.1 * g.astype(np.float64), 0.001 * np.square(g.astype(np.float64))
                _ = w - 1e-3 * np.sqrt(1 - 0.999) / (1 - 0.9) * m / (np.sqrt(v) + 1e-7)

        tfn = None
        if torch is not None:
            tps = [torch.nn.Parameter(torch.from_numpy(w.copy())) for w in ws]
            for tp, g in zip(tps, gs):
                tp.grad = torch.from_numpy(g)
            try:
                topt = torch.optim.Adam(tps, lr=1e-3, eps=1e-7, fused=True)
                topt.step()
            except (RuntimeError, TypeError, ValueError):  # no fused CPU Adam in this torch: foreach
                topt = torch.optim.Adam(tps, lr=1e-3, eps=1e-7, foreach=True)
            tfn = topt.step
        nbytes = 7 * sum(w.nbytes for w in ws)  # read w, g, m, v; write w, m, v
        yield ("optimizer_step adam", label, "bytes", nbytes,
               {"reference": reference, "numpy": make("numpy"), "numba": make("numba")}, tfn)
# convt: the stride-phase transposed-conv kernel beyond U's stride 2 (stride 3; a Conv1DTranspose's height-1 image)
STRIDED_TRANSPOSES = [("convT s3 9x9x32->27x27x32", (64, 9, 9, 32), (3, 3, 32, 32), (3, 3), ((0, 0), (0, 0))),
                      ("conv1dT s2 50x32->100x32", (64, 1, 50, 32), (1, 3, 32, 32), (1, 2), ((0, 0), (1, 0)))]


def convt_cases(impls, torch, rng, dtype):
    from gradflow.kernels import conv_transpose as ct_np  # noqa: PLC0415 - lazy like load_impls: Numba on demand
    from gradflow.kernels.cpu import conv_transpose as ct_nb  # noqa: PLC0415 - lazy like load_impls

    fns = {"reference": ct_np.reference_forward, "numpy": ct_np.numpy_forward, "numba": ct_nb.conv2d_transpose_forward}
    for label, xs, ws, stride, pads in STRIDED_TRANSPOSES:
        x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
        b = rng.standard_normal(ws[2]).astype(dtype)
        ys = (xs[0], *(n * s for n, s in zip(xs[1:3], stride)), ws[2])  # 'same': n * stride
        geo = (stride, pads, (1, 1))
        tf = None
        if torch is not None:
            tx, tw, tb = t_nhwc(torch, x), torch.from_numpy(w).permute(3, 2, 0, 1), torch.from_numpy(b)
            tpad = tuple(lo for lo, _ in pads)
            tout = tuple(y - ((n - 1) * s - 2 * p + k) for y, n, s, p, k in zip(ys[1:3], xs[1:3], stride, tpad, ws[:2]))
            tf = lambda tx=tx, tw=tw, tb=tb, st=stride, tp=tpad, to=tout: torch.relu(  # noqa: E731
                torch.nn.functional.conv_transpose2d(tx, tw, tb, stride=st, padding=tp, output_padding=to))
        flops = 2 * x.size * ws[0] * ws[1] * ws[2]
        yield ("conv2d_transpose_forward", label, "flops", flops,
               {k: (lambda f=f, x=x, w=w, b=b, ys=ys, geo=geo: f(x, w, b, ys, *geo, activation="relu"))
                for k, f in fns.items()}, tf)


# -- the table --------------------------------------------------------------------------------
# lstm: model L's row scatter-add (the Embedding gradient) and its fused LSTM passes
SCATTERS = [("L embedding grad 12800 ids -> 20000x128", (20000, 128, (64, 200)))]
LSTMS = [("L lstm 64x200x64", (64, 200, 64))]


def lstm_cases(impls, torch, rng, dtype):
    from gradflow.kernels.cpu import recurrent as nb_rec  # noqa: PLC0415 - lazy like load_impls: Numba on demand
    from gradflow.kernels.cpu import scatter as nb_sc  # noqa: PLC0415 - lazy like load_impls

    def add_at(n, d, idx, v):
        out = np.zeros((n, d), dtype)
        np.add.at(out, idx, v)
        return out

    for label, (n, d, ishape) in SCATTERS:
        idx = rng.integers(0, n, ishape)
        v = rng.standard_normal(ishape + (d,)).astype(dtype)
        tfn = None
        if torch is not None:
            ti, tv = torch.from_numpy(idx.reshape(-1)), torch.from_numpy(v.reshape(-1, d))
            tfn = lambda: torch.zeros((n, d)).index_add_(0, ti, tv)  # noqa: E731
        yield ("scatter_rows", label, "bytes", 2 * v.nbytes + n * d * v.itemsize,
               {"reference": lambda: add_at(n, d, idx, v), "numpy": lambda: add_at(n, d, idx, v),
                "numba": lambda: nb_sc.scatter_rows(np.empty((n, d), dtype), idx, v, init=True)}, tfn)
    for label, (N, T, u) in LSTMS:
        xw = rng.standard_normal((N, T, 4 * u)).astype(dtype)
        U = (rng.standard_normal((u, 4 * u)) / np.sqrt(u)).astype(dtype)
        h0, c0 = np.zeros((N, u), dtype), np.zeros((N, u), dtype)
        keep, rows, bias = np.ones((1, 1), np.uint8), nb_rec.block_rows(N), np.zeros(4 * u, dtype)
        out, saved = np.empty((N, T, 2 * u), dtype), np.empty((N, T, 5 * u), dtype)

        def fwd():
            nb_rec.lstm_forward(xw, bias, U, h0, c0, keep, False, False, rows, out, saved, True)
        fwd()
        grad = rng.standard_normal((N, T, 2 * u)).astype(dtype)
        Ut = np.ascontiguousarray(U.T)
        dxw, dh0, dc0 = np.empty_like(xw), np.empty_like(h0), np.empty_like(c0)
        parts = np.empty(((N + rows - 1) // rows, u, 4 * u), dtype)
        db_parts, no_hpt = np.empty(((N + rows - 1) // rows, 4 * u), dtype), np.empty((0, 0, u), dtype)

        def bwd():
            nb_rec.lstm_backward(grad, Ut, h0, c0, keep, False, False, rows, out, saved, dxw, dh0, dc0, parts,
                                 db_parts, no_hpt, True)
        flops = 2 * N * T * u * 4 * u
        yield "lstm_forward", label, "flops", flops, {"numba": fwd}, None
        yield "lstm_backward", label, "flops", 2 * flops, {"numba": bwd}, None


def run(args):
    torch = load_torch()
    impls = load_impls()
    rng = np.random.default_rng(0)
    dtype = np.float32
    peak_flops, peak_bw = measure_peaks(args.repeats)
    rows = []
    groups = [conv_cases, pool_cases, bn_cases, bn_pool_cases, matmul_cases, depthwise_cases,
              attention_cases, layer_norm_cases]
    groups.append(bnconv_cases)  # bnconv
    groups.append(optimizer_cases)  # adam
    groups.append(convt_cases)  # convt
    groups.append(lstm_cases)  # lstm
    groups.append(dropout_cases)  # tfm
    for group in groups:
        for kernel, label, kind, work, fns, tfn in group(impls, torch, rng, dtype):
            if args.only and args.only not in kernel and args.only not in label:
                continue
            ref = fns.pop("reference", None)
            timed = dict(fns)
            if tfn is not None:
                timed["torch"] = tfn
            res = interleaved(timed, args.repeats)
            if not args.no_reference and ref is not None and label != "matmul 2048":
                t0 = time.perf_counter()
                ref()
                t_ref = time.perf_counter() - t0
                if t_ref < REFERENCE_BUDGET_S / 3:
                    t_ref = interleaved({"r": ref}, 2, warmup=0)["r"]
                res["reference"] = t_ref
            t_torch = res.get("torch")
            for impl in ("reference", "numpy", "numba", "torch"):
                if impl not in res:
                    continue
                t = res[impl]
                rate = work / t / 1e9
                pct = 100 * rate / (peak_flops if kind == "flops" else peak_bw)
                vs = (t_torch / t) if (t_torch and impl != "torch") else None
                rows.append((kernel, label, impl, t, rate, "GFLOP/s" if kind == "flops" else "GB/s", pct, vs))
            if args.verbose:
                print(f"  {kernel} {label}: " + ", ".join(f"{k} {v * 1e3:.3f} ms" for k, v in res.items()), flush=True)
    # the peaks again at the end, keeping the better: a neighbour's burst during one measurement
    # must not make every percentage look better than it is
    again = measure_peaks(args.repeats)
    peak_flops, peak_bw = max(peak_flops, again[0]), max(peak_bw, again[1])
    rows = [(k, lab, impl, t, rate, unit, 100 * rate / (peak_flops if unit == "GFLOP/s" else peak_bw), vs)
            for k, lab, impl, t, rate, unit, _, vs in rows]
    return peak_flops, peak_bw, rows


def compile_times(timeout: float = 900.0) -> dict:
    """First-call minus steady-call time of each Numba kernel (float32) in a fresh process, cold cache."""
    code = r'''
import json, time, numpy as np
from gradflow.kernels import cpu
from gradflow.kernels.cpu import conv_transpose as cpu_ct
rng = np.random.default_rng(0)
f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)
x, w, x1, w1 = f32(2, 8, 8, 8), f32(3, 3, 8, 4), f32(2, 8, 8, 1), f32(3, 3, 1, 4)
w32, x32, ww, w16 = f32(3, 3, 8, 32), f32(2, 8, 8, 32), f32(3, 3, 32, 32), f32(3, 3, 8, 16)
g = ((1, 1), ((1, 1), (1, 1)), (1, 1)); g2 = ((2, 2), ((1, 1), (1, 1)), (1, 1)); p = ((2, 2), (2, 2), ((0, 0), (0, 0)))
y, y2, yp, y32 = f32(2, 8, 8, 4), f32(2, 4, 4, 4), f32(2, 4, 4, 8), f32(2, 8, 8, 32)
arg = np.zeros((2, 4, 4, 8), np.int64); xb = f32(16, 4); v = np.ones(4, np.float32); v8 = np.ones(8, np.float32)
calls = {
 "conv2d_forward (F % 32 == 0: SIMD implicit GEMM, 32-wide tiles)":
     lambda: cpu.conv2d_forward(x, w32, None, *g, activation="relu"),
 "conv2d_backward_input (stride 1, C % 32 == 0: SIMD, reuses forward)":
     lambda: cpu.conv2d_backward_input(y32, ww, x32.shape, *g),
 "conv2d_backward_filter (F % 32 == 0: SIMD row tiles)": lambda: cpu.conv2d_backward_filter(y32, x, w32.shape, *g),
 "conv2d_forward (F % 16 == 0: 16-wide tiles, compiled separately)": lambda: cpu.conv2d_forward(x, w16, None, *g),
 "bias_act_backward": lambda: cpu.bias_act_backward(xb, xb),
 "conv2d_forward (other F, e.g. 4: dot-product tiles)": lambda: cpu.conv2d_forward(x, w, None, *g),
 "conv2d_forward (other F, KH*KW*C <= 32: pack + BLAS)": lambda: cpu.conv2d_forward(x1, w1, None, *g),
 "conv2d_backward_input (stride 2: col2im)": lambda: cpu.conv2d_backward_input(y2, w, x.shape, *g2),
 "conv2d_backward_filter (other F: planar dot products)": lambda: cpu.conv2d_backward_filter(y, x, w.shape, *g),
 "max_pool2d_forward": lambda: cpu.max_pool2d_forward(x, *p),
 "max_pool2d_backward": lambda: cpu.max_pool2d_backward(yp, arg, x.shape, *p),
 "avg_pool2d_forward": lambda: cpu.avg_pool2d_forward(x, *p),
 "avg_pool2d_backward": lambda: cpu.avg_pool2d_backward(yp, x.shape, *p),
 "batch_norm_forward": lambda: cpu.batch_norm_forward(xb, v, v, 1e-3),
 "batch_norm_inference": lambda: cpu.batch_norm_inference(xb, v, v, v, v, 1e-3),
 "batch_norm_backward": lambda: cpu.batch_norm_backward(xb, xb, v, v, v),
 "bn_relu_max_pool_forward": lambda: cpu.bn_relu_max_pool_forward(x, v8, v8, 1e-3, (2, 2)),
 "bn_relu_max_pool_backward": lambda: cpu.bn_relu_max_pool_backward(yp, yp, arg, x, v8, v8, v8, (2, 2)),
 "matmul": lambda: cpu.matmul(xb, xb.T.copy()),
 "conv2d_transpose_forward (stride 2: stride-phase gather, bias + ReLU epilogue)":  # bnconv
     lambda: cpu_ct.conv2d_transpose_forward(y2, w, v8, (2, 8, 8, 8), *g2, activation="relu"),
}
out = {}
for name, f in calls.items():
    t0 = time.perf_counter(); f(); first = time.perf_counter() - t0
    t0 = time.perf_counter(); f(); again = time.perf_counter() - t0
    out[name] = first - again
print(json.dumps(out))
'''
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)
        cold = (json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0
                else {"error": proc.stderr[-500:]})
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)
        warm = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else {}
    return {"cold": cold, "cached": warm}


def format_table(peak_flops, peak_bw, rows) -> str:
    lines = [
        f"Peak: np.matmul float32 2048 = {peak_flops:.0f} GFLOP/s; "
        f"np.copyto 256 MiB = {peak_bw:.1f} GB/s (read + write).",
        "",
        "| kernel | shape | impl | median ms | rate | % of peak | torch time / ours |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for kernel, label, impl, t, rate, unit, pct, vs in rows:
        lines.append(f"| {kernel} | {label} | {impl} | {t * 1e3:.3f} | {rate:.1f} {unit} | {pct:.0f}% | "
                     f"{'' if vs is None else f'{vs:.2f}x'} |")
    return "\n".join(lines)


def format_summary(peak_flops, peak_bw, rows) -> str:
    """One line per layer and implementation: a training step's passes together (work / total time)."""
    groups = {}
    for kernel, label, impl, t, rate, _unit, _, _ in rows:
        if kernel in ("batch_norm_inference", "matmul"):
            continue
        key = (label, impl)
        work, total = groups.get(key, (0.0, 0.0))
        groups[key] = (work + rate * 1e9 * t, total + t)
    lines = ["| layer | impl | fwd + bwd ms | rate | % of peak |", "|---|---|---:|---:|---:|"]
    for (label, impl), (work, total) in groups.items():
        flops = "conv" in label
        rate = work / total / 1e9
        pct = 100 * rate / (peak_flops if flops else peak_bw)
        lines.append(f"| {label} | {impl} | {total * 1e3:.3f} | {rate:.1f} {'GFLOP/s' if flops else 'GB/s'} | "
                     f"{pct:.0f}% |")
    return "\n".join(lines)


def format_compile(ct) -> str:
    if "error" in ct.get("cold", {}):
        return f"compile-time measurement failed: {ct['cold']['error']}"
    lines = ["| numba kernel (float32) | first call, cold cache (s) | first call, cached (s) |", "|---|---:|---:|"]
    for name, t in ct["cold"].items():
        lines.append(f"| {name} | {t:.2f} | {ct['cached'].get(name, float('nan')):.2f} |")
    lines.append(f"| total | {sum(ct['cold'].values()):.1f} | {sum(ct['cached'].values()):.1f} |")
    return "\n".join(lines)


def machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "?")
    except OSError:
        model = "?"
    import numba

    return (f"{model}, {os.cpu_count()} cores; NumPy {np.__version__} (OpenBLAS), Numba {numba.__version__} "
            f"({numba.get_num_threads()} threads)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats, no compile-time subprocess")
    p.add_argument("--repeats", type=int, default=None, help="timed calls per implementation (default 25, quick 7)")
    p.add_argument("--only", default=None, help="run only kernels/shapes whose name contains this")
    p.add_argument("--no-reference", action="store_true", help="skip the (slow) reference implementation")
    p.add_argument("--no-compile", action="store_true", help="skip the cold-cache compile-time measurement")
    p.add_argument("--markdown", default=None, help="also write the tables to this file (appended)")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--spin", action="store_true", help="leave the thread pools' spin-waiting on (see above)")
    args = p.parse_args(argv)
    if not args.spin and os.environ.get("_GRADFLOW_BENCH_PASSIVE") != "1":
        env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", OPENBLAS_THREAD_TIMEOUT="4", _GRADFLOW_BENCH_PASSIVE="1")
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    args.repeats = args.repeats or (7 if args.quick else 25)
    header = f"CPU kernels (2-core machine, {datetime.date.today().isoformat()})"
    waits = "spin-waiting thread pools" if args.spin else "OMP_WAIT_POLICY=PASSIVE, OPENBLAS_THREAD_TIMEOUT=4"
    print(f"{header}\n{machine()}\nmedian of {args.repeats} interleaved calls after warm-up; float32; {waits}\n",
          flush=True)
    peak_flops, peak_bw, rows = run(args)
    table = format_table(peak_flops, peak_bw, rows)
    summary = format_summary(peak_flops, peak_bw, rows)
    print(table + "\n\nTraining-step view (all passes of a layer: conv fwd + bwd_input + bwd_filter, pool fwd + bwd, "
          "batch norm fwd + bwd):\n\n" + summary, flush=True)
    compile_table = ""
    if not (args.quick or args.no_compile):
        compile_table = format_compile(compile_times())
        print("\n" + compile_table)
    if args.markdown:
        with open(args.markdown, "a") as fh:
            fh.write(f"\n## {header}\n\n{machine()}. Median of {args.repeats} interleaved calls after warm-up, "
                     f"float32, batch 128, {waits}.\n\n{table}\n\nAll passes of a layer together:\n\n{summary}\n")
            if compile_table:
                fh.write(f"\nNumba first-call (compile) time, fresh process:\n\n{compile_table}\n")


if __name__ == "__main__":
    main()
