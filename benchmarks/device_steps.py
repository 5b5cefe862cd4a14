"""The Python steps of ``benchmarks/device_check.sh`` (run there on a GPU machine; each prints a
progress line per item as it goes, a JSON line of figures last, and exits non-zero on a failed check).

    python benchmarks/device_steps.py train-parity   # 5 steps of models A and B on cupy vs numpy
    python benchmarks/device_steps.py layers         # every layer kind forward + backward on cupy
    python benchmarks/device_steps.py models         # A and B training samples/s: cupy vs PyTorch CUDA

``DEVICE_CHECK_SCALE=tiny`` shrinks the data (the forced-GPU run of device_check.sh on the CuPy
stand-in, where only the plumbing is checked).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

TINY = os.environ.get("DEVICE_CHECK_SCALE") == "tiny"
SHAPES = (("A", (28, 28, 1)), ("B", (32, 32, 3)))


def progress(step: str, line: str) -> None:
    """One line per item, flushed at once, so a step killed at its time limit still shows how far it got."""
    print(f"[{step}] {line}", flush=True)


def _train(name, backend, x, y, initial, steps=5):
    """Weights after ``steps`` training steps from the weights ``initial`` with dropout off, then the
    inference path's predictions (fused conv -> BN -> ReLU -> pool) appended, so both are compared
    across backends (whose random generators differ: CuPy's XORWOW is not NumPy's PCG64)."""
    from bench_models import gradflow_model

    import gradflow as gf
    from gradflow.layers import Dropout

    with gf.use_backend(backend):
        model = gradflow_model(name, x.shape[1:])
        model.set_weights(initial)
        for layer in model.layers:
            if isinstance(layer, Dropout):
                layer.rate = 0.0
        model.fit(x, y, batch_size=len(x) // steps, epochs=1, shuffle=False, verbose=0)
        return model.get_weights() + [model.predict(x[:64], batch_size=32, verbose=0)]


def train_parity() -> dict:
    """Models A and B: five training steps on cupy end where the same steps on numpy end, from the
    same initial weights, and the trained models' predictions (the inference path) agree."""
    from bench_models import gradflow_model

    import gradflow as gf

    rng = np.random.default_rng(0)
    out, failed = {}, []
    batch = 2 if TINY else 32
    for name, shape in SHAPES:
        x = rng.random((5 * batch, *shape), dtype=np.float32)
        y = rng.integers(0, 10, len(x)).astype(np.int64)
        with gf.use_backend("numpy"):
            gf.utils.set_random_seed(7)
            initial = gradflow_model(name, shape).get_weights()
        cpu, gpu = _train(name, "numpy", x, y, initial), _train(name, "cupy", x, y, initial)
        worst = max(float(np.abs(a - b).max() / max(1.0, float(np.abs(a).max()))) for a, b in zip(cpu, gpu))
        out[f"model_{name}_max_rel_diff"] = worst
        ok = worst < 1e-3
        progress("train-parity", f"model {name}: max relative difference {worst:.3g} {'ok' if ok else 'FAIL'}")
        if not ok:
            failed.append(f"model {name}: cupy and numpy weights differ by {worst:.3g} after 5 steps")
    if failed:
        print(json.dumps(out))
        raise SystemExit("; ".join(failed))
    return out


def _layer_cases():
    from gradflow import layers as L

    img, seq, vol = (2, 8, 8, 3), (2, 6, 4), (2, 4, 6, 6, 2)
    return [
        (L.Dense(4), (2, 5)), (L.Conv2D(4, 3, activation="relu"), img), (L.Conv1D(3, 2, padding="causal"), seq),
        (L.Conv2DTranspose(3, 3, strides=2, padding="same"), img), (L.DepthwiseConv2D(3), img),
        (L.SeparableConv2D(4, 3), img), (L.Conv3D(2, 2), vol), (L.MaxPooling2D(2), img),
        (L.AveragePooling2D(2), img), (L.MaxPooling1D(2), seq), (L.MaxPooling3D(2), vol),
        (L.GlobalAveragePooling2D(), img), (L.BatchNormalization(), img), (L.LayerNormalization(), seq),
        (L.Dropout(0.3), img), (L.Flatten(), img), (L.Reshape((-1,)), img), (L.UpSampling2D(2), img),
        (L.ZeroPadding2D(1), img), (L.Cropping2D(1), img), (L.ReLU(6.0), img), (L.LeakyReLU(), img),
        (L.PReLU(), (2, 5)), (L.ELU(), img), (L.Softmax(), (2, 5)), (L.Activation("gelu"), (2, 5)),
        (L.SimpleRNN(3), seq), (L.LSTM(3, return_sequences=True), seq), (L.GRU(3), seq),
        (L.Bidirectional(L.LSTM(2)), seq), (L.ConvLSTM2D(2, 3), (2, 3, 6, 6, 2)),
        (L.MultiHeadAttention(2, 3), seq), (L.Rescaling(0.5), img), (L.Resizing(4, 4), img),
        (L.CenterCrop(4, 4), img), (L.RandomFlip(), img), (L.RandomRotation(0.1), img),
    ]


def layers(backend: str = "cupy", device: str = "cuda") -> dict:
    """Every layer kind once forward + backward on ``backend`` (cupy on the device), against the same
    layer on numpy. (A test runs it with the reference backend on the CPU, so the cases stay valid.)"""
    import gradflow as gf

    failures, checked = [], 0
    for layer, shape in _layer_cases():
        name = type(layer).__name__
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        before = len(failures)
        t0 = time.perf_counter()
        try:
            args = (lambda t: (t, t)) if name == "MultiHeadAttention" else (lambda t: (t,))
            with gf.use_backend("numpy"):
                ref = layer(*args(x), training=False).numpy()
                weights = layer.get_weights()
            layer.to(device)
            with gf.use_backend(backend):
                xt = gf.Tensor(x, requires_grad=True)
                out = layer(*args(xt), training=False)
                if out.requires_grad:  # Resizing/CenterCrop resample without a gradient, as preprocessing
                    out.sum().backward()
                got = out.numpy()
            if not np.allclose(got, ref, rtol=1e-3, atol=1e-4) and not name.startswith("Random"):
                failures.append(f"{name}: {backend} output differs from numpy by {float(np.abs(got - ref).max()):.3g}")
            if xt.grad is None and name not in ("Resizing", "CenterCrop", "RandomFlip", "RandomRotation"):
                failures.append(f"{name}: no gradient reached the input on {backend}")
            del weights
            checked += 1
        except Exception as exc:  # keep going: the report lists every failing kind
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
        progress("layers", f"{name} {'ok' if len(failures) == before else 'FAIL'} "
                           f"({time.perf_counter() - t0:.2f} s)")
    for line in failures:
        print("FAIL", line)
    result = {"layers_checked": checked, "layers_failed": len(failures)}
    if failures:
        print(json.dumps(result))
        raise SystemExit(1)
    return result


def _torch_cuda():
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def models() -> dict:
    """Training samples/s of models A and B: gradflow on cupy vs PyTorch eager CUDA, same process
    (gradflow's figures alone where PyTorch has no CUDA)."""
    from bench_models import gradflow_model, torch_model

    import gradflow as gf

    torch = _torch_cuda()
    n, batch = (16, 8) if TINY else (4096, 128)
    out = {}
    for name, shape in SHAPES:
        rng = np.random.default_rng(0)
        x = rng.random((n, *shape), dtype=np.float32)
        y = rng.integers(0, 10, len(x)).astype(np.int64)
        with gf.use_backend("cupy"):
            model = gradflow_model(name, shape)
            warm = batch if TINY else 4 * batch
            model.fit(x[:warm], y[:warm], batch_size=batch, epochs=1, verbose=0)  # compiles, warms up
            gf.get_backend().synchronize()
            t0 = time.perf_counter()
            model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
            gf.get_backend().synchronize()
            ours = len(x) / (time.perf_counter() - t0)
        out[f"model_{name}_gradflow_samples_per_s"] = ours
        progress("models", f"model {name}: gradflow on cupy {ours:.0f} samples/s")
        if torch is None:
            continue
        net = torch_model(name, torch).cuda()
        xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).cuda()
        yt = torch.from_numpy(y).cuda()
        opt = torch.optim.Adam(net.parameters(), 1e-3) if name == "A" else torch.optim.SGD(net.parameters(), 0.01,
                                                                                               momentum=0.9)
        loss = torch.nn.CrossEntropyLoss()
        for _ in range(2):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for i in range(0, len(x), batch):
                opt.zero_grad(set_to_none=True)
                loss(net(xt[i:i + batch]), yt[i:i + batch]).backward()
                opt.step()
            torch.cuda.synchronize()
            theirs = len(x) / (time.perf_counter() - t0)
        out[f"model_{name}_torch_samples_per_s"] = theirs
        out[f"model_{name}_ratio"] = ours / theirs
        progress("models", f"model {name}: PyTorch eager CUDA {theirs:.0f} samples/s, ratio {ours / theirs:.2f}")
    out["torch_cuda"] = torch is not None
    return out


STEPS = {"train-parity": train_parity, "layers": layers, "models": models}

if __name__ == "__main__":
    step = sys.argv[1] if len(sys.argv) > 1 else ""
    if step not in STEPS:
        raise SystemExit(f"usage: device_steps.py {{{', '.join(STEPS)}}}")
    print(json.dumps(STEPS[step]()))
