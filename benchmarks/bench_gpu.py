#!/usr/bin/env python
"""GPU kernel benchmark: gradflow's hand-written CUDA kernels vs NVIDIA's libraries, side by side.

    python benchmarks/bench_gpu.py            # about 1-3 minutes on an H100/H200
    python benchmarks/bench_gpu.py --quick    # fewer repeats
    python benchmarks/bench_gpu.py --budget 100   # start no new row after 100 s (device_check.sh)

Rows (all float32, TF32 off everywhere unless a row says TF32):
  matmul 4096^3                         ours vs cuBLAS (cupy.matmul)
  conv2d fwd / bwd-input / bwd-filter   model B shapes, batch 256, 3x3 'same': ours vs cuDNN
                                        (PyTorch's cuDNN when torch with CUDA is installed, else
                                        CuPy's cuDNN, else gradflow's vendor im2col + cuBLAS - labelled)
  max-pool 2x2 and batch norm fwd+bwd   achieved bandwidth vs a measured device-to-device copy
Times are medians of CUDA-event timings after warm-up (first calls also compile our kernels).
Prints a message and exits 0 where CuPy or a GPU is missing. No input is read; one command.
The last line is a JSON object of every row (ms, ratio, rate), printed also when a row fails or
the budget runs out; ``--tiny`` uses toy sizes (the forced-GPU check on the CuPy stand-in).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

BUDGET_S = 270  # stop starting new rows after this many seconds (the whole run stays < 5 minutes)
MATMUL_N = 4096
COPY_BYTES = 512 * 1024 * 1024
POOL_X = (256, 32, 32, 32)  # model B's first max-pool input
BN_X = (256 * 32 * 32, 32)  # model B's first batch norm, [M, C]
MODEL_B = [  # (name, x NHWC, F) with 3x3 kernels, stride 1, 'same' padding
    ("conv1 32x32x3->32", (256, 32, 32, 3), 32),
    ("conv2 16x16x32->64", (256, 16, 16, 32), 64),
    ("conv3 8x8x64->128", (256, 8, 8, 64), 128),
]


def _cupy():
    try:
        import cupy
        if not cupy.cuda.is_available():
            return None, "CuPy sees no CUDA GPU"
        return cupy, ""
    except Exception as exc:  # noqa: BLE001 - ImportError or a driver problem
        return None, f"CuPy is not usable ({type(exc).__name__}: {exc})"


def _torch_cuda():
    try:
        import torch
        if torch.cuda.is_available() and torch.backends.cudnn.is_available():
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.benchmark = True
            return torch
    except Exception:  # noqa: BLE001
        pass
    return None


class Timer:
    def __init__(self, cp, warmup: int, repeats: int) -> None:
        self.cp, self.warmup, self.repeats = cp, warmup, repeats

    def __call__(self, fn) -> float:
        """Median milliseconds of ``fn()`` on the current stream."""
        cp = self.cp
        for _ in range(self.warmup):
            fn()
        cp.cuda.Device().synchronize()
        start, end = cp.cuda.Event(), cp.cuda.Event()
        times = []
        for _ in range(self.repeats):
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(cp.cuda.get_elapsed_time(start, end))
        return statistics.median(times)


class Table:
    def __init__(self) -> None:
        self.rows = []
        self.figures: dict = {}
        print(f"{'op':38s} {'ours ms':>9s} {'ref ms':>9s} {'ours/ref':>8s} {'ours':>14s} {'ref':>14s}  yardstick")
        print("-" * 118)

    def add(self, op, ours_ms, ref_ms, ours_rate, ref_rate, unit, yardstick):
        ratio = ours_ms / ref_ms if ref_ms else float("nan")
        row = (f"{op:38s} {ours_ms:9.3f} {ref_ms:9.3f} {ratio:8.2f} {ours_rate:9.1f} {unit:4s} "
               f"{ref_rate:9.1f} {unit:4s}  {yardstick}")
        self.rows.append(row)
        self.figures[op] = {"ours_ms": round(ours_ms, 4), "ref_ms": round(ref_ms, 4), "ours_over_ref": round(ratio, 4),
                            "ours_rate": round(ours_rate, 2), "ref_rate": round(ref_rate, 2), "unit": unit,
                            "yardstick": yardstick}
        print(row, flush=True)

    def error(self, op, exc):
        self.figures[op] = {"error": f"{type(exc).__name__}: {exc}"}
        print(f"{op:38s} error: {type(exc).__name__}: {exc}", flush=True)

    def skip(self, op):
        self.figures[op] = {"skipped": "time budget"}
        print(f"{op}: skipped (time budget)", flush=True)


def bench_matmul(cp, timer, table, cuda, vendor, config, deadline):
    n = MATMUL_N
    rng = cp.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=cp.float32)
    b = rng.standard_normal((n, n), dtype=cp.float32)
    c = cp.empty((n, n), cp.float32)
    flops = 2.0 * n ** 3
    for tf32 in (False, True):
        config.allow_tf32 = tf32
        if time.monotonic() > deadline:
            table.skip(f"matmul {n}^3{' TF32' if tf32 else ''}")
            continue
        try:
            ours = timer(lambda: cuda.matmul(a, b, out=c))
            ref = timer(lambda: vendor.matmul(a, b, out=c))
            table.add(f"matmul {n}^3{' TF32' if tf32 else ''}", ours, ref, flops / ours / 1e9, flops / ref / 1e9,
                      "GF/s", "cuBLAS (cupy.matmul)")
        except Exception as exc:  # noqa: BLE001
            table.error(f"matmul {n}^3{' TF32' if tf32 else ''}", exc)
    config.allow_tf32 = False


def _conv_yardstick(cp, torch, vendor):
    """(label, fwd, bwd_input, bwd_filter) taking our NHWC CuPy arrays."""
    if torch is not None:
        def t(a):  # NHWC CuPy -> NCHW-shaped channels-last torch view, zero copy
            return torch.from_dlpack(a).permute(0, 3, 1, 2)

        def tw(w):  # [KH,KW,C,F] -> [F,C,KH,KW] channels-last
            return torch.from_dlpack(w).permute(3, 2, 0, 1).contiguous(memory_format=torch.channels_last)

        conv_bwd = torch.ops.aten.convolution_backward

        def fwd(x, w, wt):
            return torch.nn.functional.conv2d(t(x), wt, padding=1)

        def bwd_input(dy, x, w, wt):
            return conv_bwd(t(dy), t(x), wt, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, [True, False, False])

        def bwd_filter(dy, x, w, wt):
            return conv_bwd(t(dy), t(x), wt, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, [False, True, False])

        return f"cuDNN via PyTorch {torch.__version__}", fwd, bwd_input, bwd_filter, tw

    label = vendor.conv_backend()
    label = "cuDNN via CuPy" if label == "cudnn" else f"gradflow vendor {label}"
    pad = ((1, 1), (1, 1))
    return (label,
            lambda x, w, wt: vendor.conv2d_forward(x, w, None, (1, 1), pad, (1, 1)),
            lambda dy, x, w, wt: vendor.conv2d_backward_input(dy, w, x.shape, (1, 1), pad, (1, 1)),
            lambda dy, x, w, wt: vendor.conv2d_backward_filter(dy, x, w.shape, (1, 1), pad, (1, 1)),
            lambda w: None)


def bench_conv(cp, timer, table, cuda, vendor, torch, deadline):
    label, ref_fwd, ref_bin, ref_bfil, to_ref_w = _conv_yardstick(cp, torch, vendor)
    pad = ((1, 1), (1, 1))
    rng = cp.random.default_rng(1)
    for name, xs, f in MODEL_B:
        if time.monotonic() > deadline:
            table.skip(f"conv2d {name}")
            continue
        n, h, w_, c = xs
        x = rng.standard_normal(xs, dtype=cp.float32)
        w = rng.standard_normal((3, 3, c, f), dtype=cp.float32) * 0.1
        dy = rng.standard_normal((n, h, w_, f), dtype=cp.float32)
        y, dx, dw = cp.empty((n, h, w_, f), cp.float32), cp.empty(xs, cp.float32), cp.empty(w.shape, cp.float32)
        wt = to_ref_w(w)
        flops = 2.0 * n * h * w_ * f * 9 * c
        passes = [
            ("fwd", lambda: cuda.conv2d_forward(x, w, None, (1, 1), pad, (1, 1), out=y), lambda: ref_fwd(x, w, wt)),
            ("bwd-input", lambda: cuda.conv2d_backward_input(dy, w, xs, (1, 1), pad, (1, 1), out=dx),
             lambda: ref_bin(dy, x, w, wt)),
            ("bwd-filter", lambda: cuda.conv2d_backward_filter(dy, x, w.shape, (1, 1), pad, (1, 1), out=dw),
             lambda: ref_bfil(dy, x, w, wt)),
        ]
        for kind, ours_fn, ref_fn in passes:
            op = f"conv2d {kind} {name}"
            try:
                ours, ref = timer(ours_fn), timer(ref_fn)
                table.add(op, ours, ref, flops / ours / 1e9, flops / ref / 1e9, "GF/s", label)
            except Exception as exc:  # noqa: BLE001
                table.error(op, exc)


def bench_bandwidth(cp, timer, table, cuda, deadline):
    nbytes = COPY_BYTES
    src = cp.ones(nbytes // 4, cp.float32)
    dst = cp.empty_like(src)
    copy_ms = timer(lambda: cp.copyto(dst, src))
    copy_gbs = 2 * nbytes / copy_ms / 1e6
    table.add(f"device-to-device copy {nbytes >> 20} MiB", copy_ms, copy_ms, copy_gbs, copy_gbs, "GB/s",
              "reads + writes")
    if time.monotonic() > deadline:
        return
    rng = cp.random.default_rng(2)
    pool, pad = (2, 2), ((0, 0), (0, 0))
    xs = POOL_X
    x = rng.standard_normal(xs, dtype=cp.float32)
    y, am = cuda.max_pool2d_forward(x, pool, pool, pad)
    dy = cp.ones_like(y)
    dx = cp.empty_like(x)
    rows = [
        (f"max-pool 2x2 fwd {'x'.join(map(str, xs))}", lambda: cuda.max_pool2d_forward(x, pool, pool, pad, out=y),
         x.nbytes + y.nbytes + am.nbytes),
        (f"max-pool 2x2 bwd {'x'.join(map(str, xs))}",
         lambda: cuda.max_pool2d_backward(dy, am, xs, pool, pool, pad, out=dx),
         dy.nbytes + am.nbytes + dx.nbytes),
    ]
    m, c = BN_X
    xb = rng.standard_normal((m, c), dtype=cp.float32)
    gamma, beta = cp.ones(c, cp.float32), cp.zeros(c, cp.float32)
    yb = cp.empty_like(xb)
    _, mean, inv_std = cuda.batch_norm_forward(xb, gamma, beta, 1e-3, out=yb)
    dxb = cp.empty_like(xb)
    rows += [  # bytes our passes move: fwd = stats read + apply read/write; bwd = reduce 2 reads + dx 2 reads/1 write
        (f"batch-norm fwd [{m}, {c}]", lambda: cuda.batch_norm_forward(xb, gamma, beta, 1e-3, out=yb), 3 * xb.nbytes),
        (f"batch-norm bwd [{m}, {c}]",
         lambda: cuda.batch_norm_backward(xb, xb, gamma, mean, inv_std, out=dxb), 5 * xb.nbytes),
    ]
    for op, fn, moved in rows:
        if time.monotonic() > deadline:
            table.skip(op)
            continue
        try:
            ms = timer(fn)
            gbs = moved / ms / 1e6
            table.add(op, ms, copy_ms * moved / (2 * nbytes), gbs, copy_gbs, "GB/s",
                      f"copy of the same bytes ({100 * gbs / copy_gbs:.0f}% of copy bandwidth)")
        except Exception as exc:  # noqa: BLE001
            table.error(op, exc)


def _tiny() -> None:
    """Toy sizes: the whole run in seconds (the CuPy stand-in runs the kernels on a CPU emulator)."""
    global MATMUL_N, COPY_BYTES, POOL_X, BN_X, MODEL_B
    MATMUL_N, COPY_BYTES, POOL_X, BN_X = 64, 1 << 20, (2, 8, 8, 4), (128, 8)
    MODEL_B = [("conv1 8x8x3->8", (2, 8, 8, 3), 8)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 warm-up and 5 timed runs instead of 5 and 20")
    ap.add_argument("--budget", type=float, default=BUDGET_S,
                    help=f"seconds after which no new row starts (default {BUDGET_S}); keep it below any kill limit")
    ap.add_argument("--tiny", action="store_true", help="toy sizes, to check the plumbing")
    args = ap.parse_args(argv)
    cp, why = _cupy()
    if cp is None:
        print(f"bench_gpu: skipped - {why}. It needs CuPy and a CUDA GPU (pip install \"gradflow-keras[cuda12]\").")
        print(json.dumps({"skipped": why}))
        return 0
    if args.tiny:
        _tiny()
    import gradflow.kernels.cuda as cuda
    import gradflow.kernels.cuda.vendor as vendor
    from gradflow import config

    deadline = time.monotonic() + args.budget
    dev = cp.cuda.Device()
    props = cp.cuda.runtime.getDeviceProperties(dev.id)
    torch = _torch_cuda()
    device = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    print(f"device: {device} (sm_{dev.compute_capability}, {dev.attributes['MultiProcessorCount']} SMs); "
          f"CuPy {cp.__version__}, CUDA runtime {cp.cuda.runtime.runtimeGetVersion()}; "
          f"torch: {torch.__version__ if torch else 'not used'}; vendor conv: {vendor.conv_backend()}")
    timer = Timer(cp, *((3, 5) if args.quick else (5, 20)))
    table = Table()
    config.allow_tf32 = False
    try:
        bench_matmul(cp, timer, table, cuda, vendor, config, deadline)
        bench_conv(cp, timer, table, cuda, vendor, torch, deadline)
        bench_bandwidth(cp, timer, table, cuda, deadline)
    finally:
        print("-" * 118)
        print("ours/ref < 1 means gradflow's kernel is faster. ms are medians of CUDA-event timings after warm-up.")
        print(json.dumps({"device": device, "cupy": cp.__version__, "rows": table.figures}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
