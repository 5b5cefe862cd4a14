"""Differential cases: keras.activations against real Keras (values, dtype, gradient through torch autograd).

Loaded by path by tests/keras_coverage.py (``load_cases``), which makes ``keras_coverage`` importable."""
import numpy as np
from keras_coverage import case

#: extra arguments of the cases (besides the defaults, which every case runs too)
_ARGS = {
    "relu": [{"negative_slope": 0.1, "max_value": 3.0, "threshold": 0.5}], "leaky_relu": [{"negative_slope": 0.3}],
    "elu": [{"alpha": 0.5}], "softmax": [{"axis": 1}], "log_softmax": [{"axis": 1}], "gelu": [{"approximate": True}],
    "celu": [{"alpha": 0.7}], "glu": [{"axis": 1}], "hard_shrink": [{"threshold": 1.0}],
    "soft_shrink": [{"threshold": 1.0}], "sparsemax": [{"axis": 1}], "squareplus": [{"b": 1.5}],
    "threshold": [{"threshold": 0.3, "default_value": -2.0}],
}
_REQUIRED = {"threshold"}  # no defaults in Keras
_NAMES = ("celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid", "hard_silu", "hard_swish",
          "hard_tanh", "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish", "relu", "relu6", "selu",
          "sigmoid", "silu", "soft_shrink", "softmax", "softplus", "softsign", "sparse_plus", "sparse_sigmoid",
          "sparsemax", "squareplus", "swish", "tanh", "tanh_shrink", "threshold")


def _input():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(3, 4, 6)).astype("float32") * 2.5
    x[0, 0, :4] = [-1.0, 1.0, 0.5, -0.5]  # the kinks, where the subgradient is a convention
    x[np.abs(np.abs(x) - 1.0) < 1e-2] += 0.05
    x[np.abs(np.abs(x) - 0.5) < 1e-2] += 0.05
    x[np.abs(x - 0.3) < 1e-2] += 0.05
    return x


@case("activations", *_NAMES)
def activation_values_and_gradients(k, gf, name):
    import torch  # noqa: PLC0415 - the gradient of Keras's activation (torch backend)

    x = _input()
    weights = np.random.default_rng(5).normal(size=x.shape).astype("float32")
    for kwargs in ([] if name in _REQUIRED else [{}]) + _ARGS.get(name, []):
        tx = torch.tensor(x, requires_grad=True)
        ty = getattr(k.activations, name)(tx, **kwargs)
        tw = torch.tensor(weights[..., :ty.shape[-1]] if ty.shape != tx.shape else weights)
        tw = tw[tuple(slice(0, s) for s in ty.shape)]
        (ty * tw).sum().backward()
        gx = gf.Tensor(x, requires_grad=True)
        gy = getattr(gf.activations, name)(gx, **kwargs)
        theirs = ty.detach().numpy()
        ours = gy.numpy()
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, (ours.shape, ours.dtype, theirs.dtype)
        np.testing.assert_allclose(ours, theirs, rtol=2e-5, atol=2e-6, err_msg=f"{name}({kwargs}) values")
        (gy * gf.Tensor(tw.numpy())).sum().backward()
        np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=2e-4, atol=2e-5,
                                   err_msg=f"{name}({kwargs}) gradient")


@case("activations", "get", "serialize", "deserialize")
def activation_lookup(k, gf):
    for name in _NAMES:
        fn = gf.activations.get(name)
        assert gf.activations.serialize(fn) == k.activations.serialize(k.activations.get(name)), name
        assert gf.activations.deserialize(name) is fn
    assert gf.activations.get(None) is gf.activations.linear
