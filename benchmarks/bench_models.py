"""Model-level training throughput: gradflow `fit` vs a plain PyTorch loop on the same model and data.

Model A (MNIST CNN, Adam, batch 128) and model B (CIFAR CNN with batch norm, SGD momentum, batch 128),
as in the CPU-kernel issue, each as a Sequential and as a functional ``Model(Input, outputs)``.
PyTorch runs channels_last (its faster CPU layout) and, for reference, its default layout. The
contenders' epochs are interleaved; medians of the timed epochs, and the median of the per-round
ratios (time of PyTorch's epoch / gradflow's), measured in the same run.

    python benchmarks/bench_models.py [--quick] [--samples 1024] [--repeats 3] [--kernels numba]

``--predict`` measures inference instead: ``predict(x, batch_size=1000)`` samples/s on 4,000
samples, the latency of ``predict`` on one sample and of a one-sample forward call (``model(x)``
under ``no_grad``; PyTorch: the module under ``no_grad`` in eval mode; Keras: ``model(x,
training=False)``), for gradflow, PyTorch eager (channels_last and NCHW, the better one counts)
and Keras 3 on JAX (XLA), each framework in a process of its own, the others skipped when not
installed. Medians over the repeats after warm-up, then over ``--rounds`` rounds in which the
frameworks' processes alternate; ratios to the best of the others.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def gradflow_model(name, input_shape, kind="sequential"):
    """Model A or B as a Sequential or, with ``kind="functional"``, as ``Model(Input, outputs)``."""
    from gradflow.layers import Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D
    from gradflow.models import Model, Sequential
    from gradflow.optimizers import SGD, Adam

    if name == "A":
        layers = [Conv2D(32, 3, activation="relu"), MaxPooling2D(2), Conv2D(64, 3, activation="relu"),
                  MaxPooling2D(2), Flatten(), Dropout(0.5), Dense(10, activation="softmax")]
        opt = Adam(1e-3)
    else:
        layers = []
        for f in (32, 64, 128):
            layers += [Conv2D(f, 3, padding="same"), BatchNormalization(), Activation("relu"), MaxPooling2D(2)]
        layers += [Flatten(), Dense(10, activation="softmax")]
        opt = SGD(0.01, momentum=0.9)
    inp = Input(shape=input_shape)
    if kind == "sequential":
        model = Sequential([inp] + layers)
    else:
        x = inp
        for layer in layers:
            x = layer(x)
        model = Model(inp, x)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
    return model


def torch_model(name, torch):
    nn = torch.nn
    if name == "A":
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5), nn.Linear(64 * 5 * 5, 10))
    layers, c = [], 3
    for f in (32, 64, 128):
        layers += [nn.Conv2d(c, f, 3, padding=1), nn.BatchNorm2d(f), nn.ReLU(), nn.MaxPool2d(2)]
        c = f
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(128 * 4 * 4, 10))


def gradflow_epoch(name, x, y, batch, kind="sequential"):
    """A function that trains one epoch of a fresh gradflow model (compiled and warmed up here)."""
    model = gradflow_model(name, x.shape[1:], kind)
    model.fit(x[: batch * 2], y[: batch * 2], batch_size=batch, epochs=1, verbose=0, shuffle=False)  # warm-up/compile
    return lambda: model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)


def torch_epoch(name, x, y, batch, torch, channels_last):
    """The same for a plain PyTorch training loop (NHWC data moved to NCHW, or channels_last)."""
    model = torch_model(name, torch)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        xt = xt.contiguous(memory_format=torch.channels_last)
    yt = torch.from_numpy(y)
    opt = (torch.optim.Adam(model.parameters(), 1e-3) if name == "A"
           else torch.optim.SGD(model.parameters(), 0.01, momentum=0.9))
    lossf = torch.nn.CrossEntropyLoss()

    n_samples = len(x)

    def epoch(n=n_samples):
        model.train()
        for i in range(0, n, batch):
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(xt[i:i + batch]), yt[i:i + batch])
            loss.backward()
            opt.step()
    epoch(batch * 2)
    return epoch


def interleaved(epochs: dict, n: int, repeats: int) -> dict:
    """Samples/s of each contender: their epochs alternate (a, b, c, a, b, c, ...) so that a slow
    spell of the shared machine hits all of them; the median over ``repeats`` rounds, and the
    per-round ratios to the first contender for a median ratio."""
    times = {k: [] for k in epochs}
    for _ in range(repeats):
        for k, run in epochs.items():
            t0 = time.perf_counter()
            run()
            times[k].append(time.perf_counter() - t0)
    first = next(iter(epochs))
    out = {k: n / statistics.median(v) for k, v in times.items()}
    ratios = {k: statistics.median(a / b for a, b in zip(times[k], times[first])) for k in epochs}
    return out, ratios


_STANDALONE = r"""
import json, statistics, sys, time
import numpy as np, torch
sys.path.insert(0, {here!r})
from bench_models import torch_epoch
name, n, batch, repeats = {name!r}, {n}, {batch}, {repeats}
shape = (28, 28, 1) if name == "A" else (32, 32, 3)
rng = np.random.default_rng(0)
x = rng.random((n, *shape), dtype=np.float32)
y = rng.integers(0, 10, n).astype(np.int64)
epoch = torch_epoch(name, x, y, batch, torch, True)
times = []
for _ in range(repeats):
    t0 = time.perf_counter(); epoch(); times.append(time.perf_counter() - t0)
assert "gradflow" not in sys.modules
print(json.dumps(n / statistics.median(times)))
"""


def standalone_torch(name, n, batch, repeats) -> float | None:
    """PyTorch channels_last samples/s in a fresh process that never imports gradflow (so none of
    gradflow's process settings, such as its malloc tuning during fit, reach PyTorch)."""
    import json
    import os
    import subprocess
    import sys

    code = _STANDALONE.format(here=os.path.dirname(os.path.abspath(__file__)), name=name, n=n, batch=batch,
                              repeats=repeats)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1800)
    return json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None


# -- inference (--predict) -------------------------------------------------------------------
_PREDICT_COMMON = r"""
import json, statistics, sys, time
import numpy as np
def med(f, n):
    f(); f()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
    return statistics.median(ts)
def data(name, n):
    shape = (28, 28, 1) if name == "A" else (32, 32, 3)
    return np.random.default_rng(0).random((n, *shape), dtype=np.float32)
"""

_PREDICT_GRADFLOW = _PREDICT_COMMON + r"""
sys.path.insert(0, {here!r})
from bench_models import gradflow_model
import gradflow
if {kernels!r}:
    gradflow.config.kernels = {kernels!r}
from gradflow.autograd.grad_mode import no_grad
out = {{}}
for name in {models!r}:
    x = data(name, {n}); one = x[:1]
    m = gradflow_model(name, x.shape[1:], {kind!r})
    def call():
        with no_grad():
            m(one)
    out[name] = {{"predict": {n} / med(lambda: m.predict(x, batch_size=1000, verbose=0), {repeats}),
                 "predict1": med(lambda: m.predict(one, verbose=0), {lat}),
                 "call1": med(call, {lat})}}
print(json.dumps(out))
"""

_PREDICT_TORCH = _PREDICT_COMMON + r"""
import torch
sys.path.insert(0, {here!r})
from bench_models import torch_model
assert "gradflow" not in sys.modules
out = {{}}
for name in {models!r}:
    x = data(name, {n})
    best = None
    for cl in (True, False):
        torch.manual_seed(0)
        m = torch_model(name, torch).eval()
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        if cl:
            m = m.to(memory_format=torch.channels_last)
            xt = xt.contiguous(memory_format=torch.channels_last)
        def predict(xx):
            with torch.no_grad():
                return np.concatenate([torch.softmax(m(xx[i:i + 1000]), -1).numpy() for i in range(0, len(xx), 1000)])
        one = xt[:1]
        def call():
            with torch.no_grad():
                m(one)
        r = {{"predict": {n} / med(lambda: predict(xt), {repeats}), "predict1": med(lambda: predict(one), {lat}),
             "call1": med(call, {lat}), "layout": "channels_last" if cl else "NCHW"}}
        if best is None or r["predict"] > best["predict"]:
            best = r
    out[name] = best
print(json.dumps(out))
"""

_PREDICT_KERAS_JAX = _PREDICT_COMMON + r"""
import os
os.environ["KERAS_BACKEND"] = "jax"
import keras
from keras import layers
assert "gradflow" not in sys.modules
def model(name):
    if name == "A":
        ls = [keras.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
              layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(), layers.Dropout(0.5),
              layers.Dense(10, activation="softmax")]
    else:
        ls = [keras.Input((32, 32, 3))]
        for f in (32, 64, 128):
            ls += [layers.Conv2D(f, 3, padding="same"), layers.BatchNormalization(), layers.Activation("relu"),
                   layers.MaxPooling2D(2)]
        ls += [layers.Flatten(), layers.Dense(10, activation="softmax")]
    return keras.Sequential(ls)
out = {{}}
for name in {models!r}:
    x = data(name, {n}); one = x[:1]
    m = model(name)
    out[name] = {{"predict": {n} / med(lambda: m.predict(x, batch_size=1000, verbose=0), {repeats}),
                 "predict1": med(lambda: m.predict(one, verbose=0), {lat}),
                 "call1": med(lambda: m(one, training=False), {lat})}}
print(json.dumps(out))
"""


def _run_child(code: str, timeout: int = 1800):
    """Run ``code`` in a fresh Python; its last stdout line as JSON, or None (and why) when it fails."""
    import json
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        return None, (proc.stderr.strip().splitlines() or ["failed"])[-1]
    return json.loads(proc.stdout.strip().splitlines()[-1]), None


def predict_main(args) -> dict:
    """The --predict comparison; prints one table and returns the figures."""
    import importlib.util
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    n, repeats = (2000, 3) if args.quick else (4000, args.repeats)
    lat = 50 if args.quick else 200
    fmt = dict(here=here, models=args.models, n=n, repeats=repeats, lat=lat)
    rounds = 1 if args.quick else args.rounds
    codes = {"gradflow": _PREDICT_GRADFLOW.format(kernels=args.kernels or "", kind="sequential", **fmt)}
    for label, module, code in (("torch", "torch", _PREDICT_TORCH), ("keras-jax", "jax", _PREDICT_KERAS_JAX)):
        if importlib.util.find_spec(module) is None or (
                label == "keras-jax" and importlib.util.find_spec("keras") is None):
            print(f"{label}: skipped ({module} is not installed)")
        else:
            codes[label] = code.format(**fmt)
    runs = {k: [] for k in codes}
    for _ in range(rounds):  # the frameworks' processes alternate, so a slow spell of the machine hits all
        for label, code in codes.items():
            got, err = _run_child(code)
            if got is None:
                if label == "gradflow":
                    raise RuntimeError(f"the gradflow run failed: {err}")
                print(f"{label}: a run failed ({err})")
            else:
                runs[label].append(got)
    results = {}
    for label, rs in runs.items():
        if rs:
            results[label] = {name: {metric: (statistics.median(r[name][metric] for r in rs) if metric != "layout"
                                              else rs[0][name][metric]) for metric in rs[0][name]}
                              for name in args.models}
    print(f"predict: {n} samples, batch 1000, median of {repeats}; latency: one sample, median of {lat}; "
          f"each framework in its own process, medians over {rounds} alternating round(s)")
    print(f"{'model':6s} {'':10s} " + " ".join(f"{k:>16s}" for k in results) + f" {'gradflow/best':>14s}")
    for name in args.models:
        for metric, unit in (("predict", "samples/s"), ("predict1", "ms"), ("call1", "ms")):
            vals = {k: r[name][metric] for k, r in results.items()}
            cells = " ".join(f"{v:16.0f}" if unit == "samples/s" else f"{v * 1e3:16.3f}" for v in vals.values())
            rest = [v for k, v in vals.items() if k != "gradflow"]
            ratio = "-"
            if rest:
                # throughput: ours / best other; latency: best other / ours (above 1 = we are ahead)
                ratio = (f"{vals['gradflow'] / max(rest):.2f}x" if unit == "samples/s"
                         else f"{min(rest) / vals['gradflow']:.2f}x")
            print(f"{name:6s} {metric + ' ' + unit:10s} {cells} {ratio:>14s}")
    layouts = {name: results["torch"][name]["layout"] for name in args.models} if "torch" in results else {}
    if layouts:
        print(f"PyTorch's better layout: {layouts}")
    return results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=2048)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--models", default="AB")
    p.add_argument("--kernels", default=None, help="GRADFLOW kernels to use (auto|numpy|numba)")
    p.add_argument("--quick", action="store_true", help="fewer samples and repeats")
    p.add_argument("--standalone-torch", action="store_true",
                   help="also time PyTorch channels_last alone in a fresh process (no gradflow imported)")
    p.add_argument("--rounds", type=int, default=3, help="--predict: alternating rounds of the frameworks' processes")
    p.add_argument("--predict", action="store_true",
                   help="inference: predict throughput and one-sample latency vs PyTorch and Keras-on-JAX")
    args = p.parse_args(argv)
    if args.predict:
        return predict_main(args)
    if args.quick:
        args.samples, args.repeats = 512, 2
    import gradflow

    if args.kernels:
        gradflow.config.kernels = args.kernels
    try:
        import torch

        torch.manual_seed(0)
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    print(f"threads: torch {torch.get_num_threads() if torch else '-'}; "
          f"samples/epoch {args.samples}; batch {args.batch}; "
          f"gradflow kernels={gradflow.config.kernels}")
    print(f"{'model':6s} {'gradflow':>12s} {'functional':>12s} {'torch CL':>12s} {'torch NCHW':>12s} "
          f"{'ratio vs CL':>12s} {'functional vs CL':>17s} {'median of round ratios':>24s}")
    for name in args.models:
        shape = (28, 28, 1) if name == "A" else (32, 32, 3)
        x = rng.random((args.samples, *shape), dtype=np.float32)
        y = rng.integers(0, 10, args.samples).astype(np.int64)
        epochs = {"gradflow": gradflow_epoch(name, x, y, args.batch),
                  "functional": gradflow_epoch(name, x, y, args.batch, "functional")}
        if torch is not None:
            epochs["cl"] = torch_epoch(name, x, y, args.batch, torch, True)
            epochs["nchw"] = torch_epoch(name, x, y, args.batch, torch, False)
        rate, ratio = interleaved(epochs, len(x), args.repeats)
        if torch is not None:
            print(f"{name:6s} {rate['gradflow']:10.0f}/s {rate['functional']:10.0f}/s {rate['cl']:10.0f}/s "
                  f"{rate['nchw']:10.0f}/s {rate['gradflow'] / rate['cl']:11.2f}x "
                  f"{rate['functional'] / rate['cl']:16.2f}x {ratio['cl']:23.2f}x")
        else:
            print(f"{name:6s} {rate['gradflow']:10.0f}/s {rate['functional']:10.0f}/s {'-':>12s} {'-':>12s} {'-':>12s}")
        if torch is not None and args.standalone_torch:
            alone = standalone_torch(name, len(x), args.batch, args.repeats)
            if alone is not None:
                print(f"{'':6s} PyTorch channels_last in a process of its own: {alone:.0f}/s "
                      f"(gradflow {rate['gradflow'] / alone:.2f}x)")

if __name__ == "__main__":
    main()
