"""Training throughput beyond plain CNNs (issue 24): gradflow ``compile`` + ``fit`` vs PyTorch eager and
Keras 3 on JAX (when installed), on the same weights.

Models (Adam, float32):

* L: Embedding(20000, 128) -> LSTM(64) -> Dense(1, sigmoid), batch 64, length 200;
* G: the same with GRU(64);
* T: keras-io's transformer text classifier (token + position embedding 32, MultiHeadAttention 2
  heads of 32, FFN 32, LayerNorm, GAP, Dense 20, Dense 2), batch 32, length 200;
* M: MobileNet-like: stride-2 conv, 3 x (DepthwiseConv2D 3x3 + BN + ReLU + 1x1 conv + BN + ReLU), GAP,
  Dense(10); 32x32x3, batch 64;
* U: keras-io's denoising autoencoder (2 x Conv2D + MaxPool, 2 x Conv2DTranspose stride 2, Conv2D),
  28x28x1, batch 128.

The gradflow model is built first and its weights written to a file; PyTorch (its own modules:
nn.LSTM/GRU, nn.Conv2d, nn.BatchNorm2d, nn.ConvTranspose2d...; T written out to compute exactly
Keras's layers) and Keras-on-JAX load the same weights, and the first batch's inference-mode loss of
each must equal gradflow's (reported as the largest relative difference; for M and U, PyTorch's
must be within ``LOSS_TOL`` or the run stops).
Each framework runs in its own process (``--child``); the frameworks' processes alternate over
``--rounds`` rounds and each reports the median of its timed epochs; the table shows the median over
rounds and the ratio to PyTorch. ``--quick`` runs tiny versions in this process (gradflow and PyTorch
only) as a smoke test.

    python benchmarks/bench_models_more.py [--models LGTMU] [--rounds 7] [--samples 512] [--quick]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

MODELS = "LGTMU"
FULL = {"vocab": 20000, "length": 200, "batch": {"L": 64, "G": 64, "T": 32, "M": 64, "U": 128}}
#: largest relative difference allowed between gradflow's and PyTorch's first-batch loss (models M and U)
LOSS_TOL = 1e-5
QUICK = {"vocab": 300, "length": 12, "batch": {"L": 8, "G": 8, "T": 8, "M": 8, "U": 8}}


# -- the models, through the Keras API (gradflow or keras) ------------------------------------------
def build(name: str, k, cfg: dict):
    """Model ``name`` built with module ``k`` (``gradflow`` or ``keras``), compiled with Adam."""
    L = k.layers
    vocab, length = cfg["vocab"], cfg["length"]
    if name in "LG":
        inp = L.Input((length,), dtype="int32")
        x = L.Embedding(vocab, 128)(inp)
        x = (L.LSTM(64) if name == "L" else L.GRU(64))(x)
        out, loss = L.Dense(1, activation="sigmoid")(x), "binary_crossentropy"
    elif name == "T":
        inp = L.Input((length,), dtype="int32")
        x = _token_and_position(k, length, vocab, 32)(inp)
        att = L.MultiHeadAttention(num_heads=2, key_dim=32)(x, x)
        x = L.LayerNormalization(epsilon=1e-6)(x + L.Dropout(0.1)(att))
        ffn = L.Dense(32)(L.Dense(32, activation="relu")(x))
        x = L.LayerNormalization(epsilon=1e-6)(x + L.Dropout(0.1)(ffn))
        x = L.Dropout(0.1)(L.GlobalAveragePooling1D()(x))
        x = L.Dropout(0.1)(L.Dense(20, activation="relu")(x))
        out, loss = L.Dense(2, activation="softmax")(x), "sparse_categorical_crossentropy"
    elif name == "M":
        inp = L.Input((32, 32, 3))
        x = L.Conv2D(32, 3, strides=2, padding="same", activation="relu")(inp)
        for filters in (64, 64, 64):
            x = L.ReLU()(L.BatchNormalization()(L.DepthwiseConv2D(3, padding="same", use_bias=False)(x)))
            x = L.ReLU()(L.BatchNormalization()(L.Conv2D(filters, 1, use_bias=False)(x)))
        out, loss = L.Dense(10, activation="softmax")(L.GlobalAveragePooling2D()(x)), \
            "sparse_categorical_crossentropy"
    else:
        inp = L.Input((28, 28, 1))
        x = L.MaxPooling2D(2, padding="same")(L.Conv2D(32, 3, activation="relu", padding="same")(inp))
        x = L.MaxPooling2D(2, padding="same")(L.Conv2D(32, 3, activation="relu", padding="same")(x))
        x = L.Conv2DTranspose(32, 3, strides=2, activation="relu", padding="same")(x)
        x = L.Conv2DTranspose(32, 3, strides=2, activation="relu", padding="same")(x)
        out, loss = L.Conv2D(1, 3, activation="sigmoid", padding="same")(x), "binary_crossentropy"
    model = k.Model(inp, out)
    model.compile(optimizer=k.optimizers.Adam(1e-3), loss=loss)
    return model


def _token_and_position(k, length, vocab, dim):
    class TokenAndPositionEmbedding(k.layers.Layer):  # keras-io's, as written there
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.token_emb = k.layers.Embedding(input_dim=vocab, output_dim=dim)
            self.pos_emb = k.layers.Embedding(input_dim=length, output_dim=dim)

        def call(self, x):
            positions = self.pos_emb(k.ops.arange(0, length, 1))
            return self.token_emb(x) + positions

    return TokenAndPositionEmbedding()


def data(name: str, n: int, cfg: dict, seed: int = 0):
    rng = np.random.default_rng(seed)
    if name in "LGT":
        x = rng.integers(0, cfg["vocab"], (n, cfg["length"])).astype(np.int32)
        y = rng.integers(0, 2, n).astype(np.float32 if name in "LG" else np.int64)
        return x, (y.reshape(-1, 1) if name in "LG" else y)
    if name == "M":
        return rng.random((n, 32, 32, 3), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64)
    clean = rng.random((n, 28, 28, 1), dtype=np.float32)
    return np.clip(clean + 0.3 * rng.normal(size=clean.shape).astype(np.float32), 0, 1), clean


# -- PyTorch modules computing exactly Keras's layers, on the same weights ---------------------------------
def _torch_rnn(name: str, P: list, torch):
    """``nn.LSTM`` (Keras's gate order i, f, c, o is PyTorch's) or ``nn.GRU`` (Keras's z, r, h
    reordered to PyTorch's r, z, n; Keras's ``reset_after=True`` is PyTorch's GRU) with Keras's
    kernel, recurrent kernel and bias; ``forward`` returns ``(outputs, (h_n, ...))``."""
    kernel, recurrent, bias = (P[i].detach() for i in (1, 2, 3))
    u = recurrent.shape[0]
    if name == "L":
        rnn = torch.nn.LSTM(kernel.shape[0], u, batch_first=True)
        b_ih, b_hh = bias, torch.zeros_like(bias)
        order = slice(None)
    else:
        rnn = torch.nn.GRU(kernel.shape[0], u, batch_first=True)
        b_ih, b_hh = bias[0], bias[1]
        order = torch.cat([torch.arange(u, 2 * u), torch.arange(0, u), torch.arange(2 * u, 3 * u)])
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(kernel[:, order].T)
        rnn.weight_hh_l0.copy_(recurrent[:, order].T)
        rnn.bias_ih_l0.copy_(b_ih[order])
        rnn.bias_hh_l0.copy_(b_hh[order])

    class Last(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = rnn

        def forward(self, x):
            out, state = self.rnn(x)
            return out, (state[0] if name == "L" else state,)

    return Last()


def _torch_cnn(name: str, P: list, torch):
    """Models M and U as PyTorch modules (``nn.Conv2d``, ``nn.BatchNorm2d``, ``nn.ConvTranspose2d``,
    ``nn.MaxPool2d``...) holding Keras's weights: NHWC in and out, NCHW inside. Keras's 'same' with
    stride 2 pads the bottom/right only (``ZeroPad2d``); its 'same' stride-2 transposed convolution is
    the full one cropped to ``2 * n`` from the start (PyTorch's ``padding`` would crop from both ends);
    its BatchNormalization is ``eps=1e-3``, ``momentum=0.99`` (PyTorch's ``momentum=0.01``)."""
    nn = torch.nn

    def load(module, *tensors):
        with torch.no_grad():
            for dst, src in zip((module.weight, module.bias), tensors):
                dst.copy_(src)
        return module

    def conv(w, b=None, **kw):  # Keras (kh, kw, in, out) -> PyTorch (out, in, kh, kw)
        m = nn.Conv2d(w.shape[2], w.shape[3], tuple(w.shape[:2]), bias=b is not None, **kw)
        return load(m, w.detach().permute(3, 2, 0, 1), *(() if b is None else (b.detach(),)))

    def bn(gamma, beta, mean, var):
        m = load(nn.BatchNorm2d(gamma.shape[0], eps=1e-3, momentum=0.01), gamma.detach(), beta.detach())
        with torch.no_grad():
            m.running_mean.copy_(mean.detach())
            m.running_var.copy_(var.detach())
        return m

    class Permute(nn.Module):
        def __init__(self, *dims):
            super().__init__()
            self.dims = dims

        def forward(self, x):
            return x.permute(*self.dims)

    class Crop(nn.Module):  # the first ``2 * n`` rows and columns of a stride-2 transposed conv
        def forward(self, x):
            return x[..., : x.shape[-2] - 1, : x.shape[-1] - 1]

    if name == "M":
        layers = [Permute(0, 3, 1, 2), nn.ZeroPad2d((0, 1, 0, 1)), conv(P[0], P[1], stride=2), nn.ReLU()]
        j = 2
        for _ in range(3):
            dw = P[j]  # Keras (kh, kw, C, 1) -> PyTorch (C, 1, kh, kw), groups=C
            depthwise = nn.Conv2d(dw.shape[2], dw.shape[2], tuple(dw.shape[:2]), padding=1, groups=dw.shape[2],
                                  bias=False)
            layers += [load(depthwise, dw.detach().permute(2, 3, 0, 1)), bn(*P[j + 1:j + 5]), nn.ReLU(),
                       conv(P[j + 5]), bn(*P[j + 6:j + 10]), nn.ReLU()]
            j += 10
        dense = load(nn.Linear(*P[j].shape), P[j].detach().T, P[j + 1].detach())
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), dense, nn.Softmax(-1)]
    else:
        layers = [Permute(0, 3, 1, 2), conv(P[0], P[1], padding=1), nn.ReLU(), nn.MaxPool2d(2),
                  conv(P[2], P[3], padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        for j in (4, 6):  # Keras (kh, kw, out, in) -> PyTorch (in, out, kh, kw)
            w = P[j]
            up = nn.ConvTranspose2d(w.shape[3], w.shape[2], tuple(w.shape[:2]), stride=2)
            layers += [load(up, w.detach().permute(3, 2, 0, 1), P[j + 1].detach()), Crop(), nn.ReLU()]
        layers += [conv(P[8], P[9], padding=1), nn.Sigmoid(), Permute(0, 2, 3, 1)]
    return nn.Sequential(*layers)


def torch_model(name: str, weights: list, torch, cfg: dict):
    """A PyTorch module for model ``name`` holding ``weights`` (gradflow's ``get_weights()`` order),
    and its loss function ``(output, target) -> loss``."""
    nn, F = torch.nn, torch.nn.functional
    P = [nn.Parameter(torch.from_numpy(np.array(w, dtype=np.float32))) for w in weights]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            if name not in "MU":  # M and U hold their weights in their modules
                self.p = nn.ParameterList(P)
            if name in "LG":
                self.rnn = _torch_rnn(name, P, torch)
            if name in "MU":
                self.net = _torch_cnn(name, P, torch)

        def forward(self, x):
            if name in "MU":  # PyTorch's own modules (_torch_cnn)
                return self.net(x)
            p = self.p
            if name in "LG":  # PyTorch's own fused nn.LSTM / nn.GRU, holding Keras's weights
                _, (h, *_) = self.rnn(F.embedding(x, p[0]))
                return torch.sigmoid(h[-1] @ p[4] + p[5])
            if name == "T":
                x = F.embedding(x, p[0]) + p[1][: x.shape[1]]
                q, k_, v = (torch.einsum("btd,dhk->bthk", x, p[j]) + p[j + 1] for j in (2, 4, 6))
                s = torch.einsum("bthk,bshk->bhts", q * (1.0 / np.sqrt(q.shape[-1])), k_).softmax(-1)
                a = torch.einsum("bhts,bshk->bthk", s, v)  # Keras MHA: dropout=0 by default
                att = torch.einsum("bthk,hkd->btd", a, p[8]) + p[9]
                x = F.layer_norm(x + F.dropout(att, 0.1, self.training), (x.shape[-1],), p[10], p[11], 1e-6)
                ffn = torch.relu(x @ p[12] + p[13]) @ p[14] + p[15]
                x = F.layer_norm(x + F.dropout(ffn, 0.1, self.training), (x.shape[-1],), p[16], p[17], 1e-6)
                x = F.dropout(x.mean(1), 0.1, self.training)
                x = F.dropout(torch.relu(x @ p[18] + p[19]), 0.1, self.training)
                return (x @ p[20] + p[21]).softmax(-1)

    def loss_fn(out, y):
        if name in "LGU":
            out = out.clamp(1e-7, 1 - 1e-7)
            return -(y * torch.log(out) + (1 - y) * torch.log(1 - out)).mean()
        return F.nll_loss(torch.log(out.clamp(1e-7, 1.0)), y)

    return Net(), loss_fn


# -- one framework's timed epochs -----------------------------------------------------------------------
def run_framework(framework: str, name: str, weights: list, n: int, repeats: int, cfg: dict) -> dict:
    """Samples/s (median of ``repeats`` timed epochs after a warm-up) and the first batch's loss."""
    x, y = data(name, n, cfg)
    batch = cfg["batch"][name]
    if framework == "torch":
        import torch

        torch.manual_seed(0)
        model, loss_fn = torch_model(name, weights, torch, cfg)
        xt, yt = torch.from_numpy(x.astype(np.int64) if name in "LGT" else x), torch.from_numpy(y)
        opt = torch.optim.Adam(model.parameters(), 1e-3, eps=1e-7)
        model.eval()
        with torch.no_grad():
            first = float(loss_fn(model(xt[:batch]), yt[:batch]))

        def epoch(count=n):
            model.train()
            for i in range(0, count, batch):
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(xt[i:i + batch]), yt[i:i + batch])
                loss.backward()
                opt.step()
    else:
        if framework == "keras":
            import keras as k
        else:
            import gradflow as k
        model = build(name, k, cfg)
        model.set_weights(weights)
        first = float(model.evaluate(x[:batch], y[:batch], batch_size=batch, verbose=0))

        def epoch(count=n):
            model.fit(x[:count], y[:count], batch_size=batch, epochs=1, verbose=0, shuffle=False)
    if framework == "torch":  # flushed as gradflow is inside fit (the same arithmetic on both sides),
        torch.set_flush_denormal(True)  # and only while timing: --quick runs in the caller's process
    try:
        epoch(2 * batch)  # warm-up: kernels compiled and tuned
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            epoch()
            times.append(time.perf_counter() - t0)
    finally:
        if framework == "torch":
            torch.set_flush_denormal(False)
    return {"samples_per_s": n / statistics.median(times), "first_loss": first}


def _child(framework: str, name: str, weights_file: str, n: int, repeats: int, quick: bool) -> None:
    if framework == "keras":
        os.environ.setdefault("KERAS_BACKEND", "jax")
    with np.load(weights_file) as f:
        weights = [f[f"w{i}"] for i in range(len(f.files))]
    print(json.dumps(run_framework(framework, name, weights, n, repeats, QUICK if quick else FULL)))


def available() -> list[str]:
    out = ["gradflow"]
    if importlib.util.find_spec("torch"):
        out.append("torch")
    if importlib.util.find_spec("keras") and importlib.util.find_spec("jax"):
        out.append("keras")
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=MODELS)
    p.add_argument("--rounds", type=int, default=7, help="alternating rounds of the frameworks' processes")
    p.add_argument("--repeats", type=int, default=3, help="timed epochs per process")
    p.add_argument("--samples", type=int, default=512)
    p.add_argument("--quick", action="store_true", help="tiny models in this process: a smoke test")
    p.add_argument("--child", nargs=3, metavar=("FRAMEWORK", "MODEL", "WEIGHTS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        _child(*args.child, args.samples, args.repeats, args.quick)
        return {}
    import gradflow

    cfg = QUICK if args.quick else FULL
    frameworks = [f for f in available() if not (args.quick and f == "keras")]
    results = {}
    print("| model | " + " | ".join(frameworks) + " | gradflow / PyTorch | first-loss rel. diff |")
    print("|---|" + "---:|" * (len(frameworks) + 2))
    for name in args.models:
        gradflow.utils.set_random_seed(0)
        weights = build(name, gradflow, cfg).get_weights()
        per = {f: [] for f in frameworks}
        losses = {}
        if args.quick:
            for f in frameworks:
                r = run_framework(f, name, weights, 2 * cfg["batch"][name], 1, cfg)
                per[f].append(r["samples_per_s"])
                losses[f] = r["first_loss"]
        else:
            with tempfile.TemporaryDirectory() as tmp:
                wfile = os.path.join(tmp, "w.npz")
                np.savez(wfile, **{f"w{i}": w for i, w in enumerate(weights)})
                for _ in range(args.rounds):
                    for f in frameworks:
                        cmd = [sys.executable, os.path.abspath(__file__), "--child", f, name, wfile,
                               "--samples", str(args.samples), "--repeats", str(args.repeats)]
                        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
                        if proc.returncode != 0:
                            print(f"{name}/{f}: failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
                            continue
                        r = json.loads(proc.stdout.strip().splitlines()[-1])
                        per[f].append(r["samples_per_s"])
                        losses[f] = r["first_loss"]
        med = {f: statistics.median(v) if v else float("nan") for f, v in per.items()}
        ratio = med["gradflow"] / med["torch"] if "torch" in med else float("nan")
        ref = losses.get("gradflow", float("nan"))
        diff = max((abs(v - ref) / max(abs(ref), 1e-12) for v in losses.values()), default=float("nan"))
        if name in "MU" and "torch" in losses:  # PyTorch's modules must be the same model, or the ratio means nothing
            torch_diff = abs(losses["torch"] - ref) / max(abs(ref), 1e-12)
            if not torch_diff < LOSS_TOL:
                raise AssertionError(f"model {name}: PyTorch's first-batch loss {losses['torch']!r} differs from "
                                     f"gradflow's {ref!r} (relative {torch_diff:.1e} > {LOSS_TOL:.0e})")
        results[name] = {"samples_per_s": med, "ratio_torch": ratio, "first_loss": losses, "loss_rel_diff": diff}
        cells = " | ".join(f"{med[f]:.0f}" for f in frameworks)
        print(f"| {name} | {cells} | {ratio:.2f}x | {diff:.1e} |", flush=True)
    return results


if __name__ == "__main__":
    main()
