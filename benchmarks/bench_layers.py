"""The Keras-breadth layers' hot ops, forward + backward, against PyTorch (CPU, same process).

Conv1D, Conv2DTranspose and DepthwiseConv2D run on gradflow's conv kernels (Numba on the CPU);
LSTM and GRU steps are one matmul per step on the dispatched matmul kernel; MultiHeadAttention is
batched matmuls. Each row: median milliseconds of one forward + backward pass over ``--repeats``
runs, interleaved with PyTorch's, and the ratio (PyTorch time / gradflow time; > 1 means gradflow
is faster). Skips the PyTorch columns without PyTorch.

    python benchmarks/bench_layers.py [--repeats 15]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def _gradflow_case(make_layer, x):
    import gradflow as gf
    from gradflow._threads import training_threads

    layer = make_layer(gf)
    layer(x)  # build + compile the kernels

    def run():
        with training_threads("cpu"):  # the thread setup fit() uses (BLAS on one thread beside Numba's)
            t = gf.Tensor(x, requires_grad=True)
            out = layer(t, training=True)
            out = out[0] if isinstance(out, list) else out
            out.sum().backward()

    return run


def _torch_case(make, x, torch):
    module, layout = make(torch)
    xt = torch.from_numpy(np.ascontiguousarray(layout(x)))

    def run():
        t = xt.detach().requires_grad_(True)
        out = module(t)
        out = out[0] if isinstance(out, tuple) else out
        out.sum().backward()

    return run


def cases():
    """(name, input, gradflow layer factory, PyTorch (module, input layout) factory)."""
    rng = np.random.default_rng(0)
    nlc = lambda a: a.transpose(0, 2, 1)  # noqa: E731 - (N, L, C) -> (N, C, L)
    nhwc = lambda a: a.transpose(0, 3, 1, 2)  # noqa: E731
    return [
        ("Conv1D(64, 5) on (32, 200, 32)", rng.random((32, 200, 32), dtype=np.float32),
         lambda k: k.layers.Conv1D(64, 5), lambda t: (t.nn.Conv1d(32, 64, 5), nlc)),
        ("Conv2DTranspose(32, 3, strides=2, same) on (32, 14, 14, 64)", rng.random((32, 14, 14, 64), dtype=np.float32),
         lambda k: k.layers.Conv2DTranspose(32, 3, strides=2, padding="same"),
         lambda t: (t.nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1), nhwc)),
        ("DepthwiseConv2D(3) on (32, 28, 28, 64)", rng.random((32, 28, 28, 64), dtype=np.float32),
         lambda k: k.layers.DepthwiseConv2D(3, padding="same"),
         lambda t: (t.nn.Conv2d(64, 64, 3, padding=1, groups=64), nhwc)),
        ("LSTM(128) on (32, 50, 64)", rng.random((32, 50, 64), dtype=np.float32),
         lambda k: k.layers.LSTM(128), lambda t: (_LastStep(t.nn.LSTM(64, 128, batch_first=True)), lambda a: a)),
        ("GRU(128) on (32, 50, 64)", rng.random((32, 50, 64), dtype=np.float32),
         lambda k: k.layers.GRU(128), lambda t: (_LastStep(t.nn.GRU(64, 128, batch_first=True)), lambda a: a)),
        ("MultiHeadAttention(4, 32) on (32, 64, 128)", rng.random((32, 64, 128), dtype=np.float32),
         lambda k: _SelfAttention(k.layers.MultiHeadAttention(4, 32)),
         lambda t: (_TorchSelfAttention(t.nn.MultiheadAttention(128, 4, batch_first=True)), lambda a: a)),
    ]


class _LastStep:
    def __init__(self, rnn):
        self.rnn = rnn

    def __call__(self, x):
        return self.rnn(x)[0][:, -1]


class _TorchSelfAttention:
    def __init__(self, mha):
        self.mha = mha

    def __call__(self, x):
        return self.mha(x, x, x, need_weights=False)[0]


class _SelfAttention:
    def __init__(self, mha):
        self.mha = mha

    def __call__(self, x, training=None):
        return self.mha(x, x, training=training)


def _median_ms(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--only", default=None, help="run only the layers whose description contains this")
    args = p.parse_args(argv)
    try:
        import torch
    except ImportError:
        torch = None
    print(f"{'layer (forward + backward)':58s} {'gradflow ms':>12s} {'PyTorch ms':>11s} {'ratio':>7s}")
    for name, x, make_gf, make_torch in cases():
        if args.only and args.only not in name:
            continue
        ours = _gradflow_case(make_gf, x)
        theirs = _torch_case(make_torch, x, torch) if torch is not None else None
        ours()
        if theirs is not None:
            theirs()
        g_times, t_times = [], []
        for _ in range(args.repeats):  # interleaved, so a slow spell of the machine hits both
            g_times.append(_median_ms(ours, 1))
            if theirs is not None:
                t_times.append(_median_ms(theirs, 1))
        g = statistics.median(g_times)
        if theirs is None:
            print(f"{name:58s} {g:12.2f} {'-':>11s} {'-':>7s}")
        else:
            t = statistics.median(t_times)
            print(f"{name:58s} {g:12.2f} {t:11.2f} {t / g:6.2f}x")


if __name__ == "__main__":
    main()
