"""A differential harness for layers, in the spirit of Keras's ``run_layer_test`` (keras/src/testing/test_case.py).

``run_layer_case(k, gf, name, init_kwargs, input_shape)`` builds ``k.layers.<name>`` and ``gf.layers.<name>`` with
the same arguments, copies Keras's weights into gradflow's (by order, shapes checked), and holds the two to the same
results on the same float32 inputs:

- the weights: count, trainable/non-trainable split, shapes and names;
- outputs (values, dtypes, shapes) in inference and in training (``training=True``), the losses a call adds
  (activity regularizers), and the non-trainable weights a training call updates (BatchNormalization's moving
  statistics);
- gradients of ``sum(outputs * r)`` w.r.t. the float inputs and the trainable weights (Keras through torch autograd);
- ``compute_output_shape`` with a ``None`` batch, and the symbolic output on ``Input``s (shape and dtype);
- ``get_config``: the same keys and values (Keras's ``DTypePolicy`` dict read as its dtype name), ``from_config``
  of gradflow's own config and of Keras's config, each giving the same config and, with the same weights, the same
  outputs.

A row that differs raises ``AssertionError`` naming the check and the layer. Rows live in tests/keras_cases/*.py
(``layers.py`` holds one per gradflow layer); other modules call ``run_layer_case`` the same way.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: config keys that name an instance, not a behaviour
IGNORED_CONFIG_KEYS = frozenset({"name"})


@dataclass
class LayerCase:
    """One row of a layer table (``run_layer_case``'s arguments, named)."""
    name: str
    init_kwargs: Any = field(default_factory=dict)
    input_shape: Any = (2, 3)
    kwargs: dict = field(default_factory=dict)

    def run(self, k, gf):
        return run_layer_case(k, gf, self.name, self.init_kwargs, self.input_shape, **self.kwargs)


def run_layer_case(k, gf, name: str, init_kwargs: Mapping | Callable | None = None, input_shape: Any = (2, 3), *,
                   input_dtype: str | Sequence[str] = "float32", int_bound: int | None = None,
                   inputs: Any = None, input_mask: Any = None, call_kwargs: Mapping | Callable | None = None,
                   call_style: str = "auto",
                   training: bool = True, random_in_training: bool = False, grad: bool = True,
                   input_grad: bool = True, symbolic: bool = True, output_shape: bool = True,
                   config: bool = True, keras_config: bool = True, config_ignore: Sequence[str] = (),
                   weight_names: bool = True, rtol: float = 1e-5, atol: float = 1e-5, grad_rtol: float = 1e-4,
                   grad_atol: float = 1e-5, seed: int = 0) -> None:
    """Compare ``k.layers.<name>(**init_kwargs)`` with ``gf.layers.<name>(**init_kwargs)``; raise on a difference.

    ``init_kwargs`` (and ``call_kwargs``) may be a callable of the layers module (``k.layers`` or ``gf.layers``) and
    the backend's array constructor, for arguments that are layers or tensors themselves. ``input_shape`` is one shape,
    or a list of shapes for a list of inputs (``call_style`` 'list': ``layer([a, b])``, 'args': ``layer(a, b)``).
    ``inputs`` gives the arrays instead; ``input_mask`` (a boolean array, or a list per input) is attached to the
    inputs as their Keras mask, and the outputs' masks are compared too. ``random_in_training`` (dropout, noise): a training call is compared on
    shapes and dtypes only. ``int_bound``: integer inputs in ``[0, int_bound)`` (no input gradient).
    """
    import torch  # noqa: PLC0415 - Keras's gradients run through torch autograd (only where Keras is installed)

    where = f"layers.{name}"
    arrays = _inputs(input_shape, input_dtype, int_bound, inputs, seed)
    multi = isinstance(arrays, list)
    style = ("list" if multi else "single") if call_style == "auto" else call_style
    if isinstance(init_kwargs, Callable):
        k_kwargs, g_kwargs = init_kwargs(k.layers), init_kwargs(gf.layers)
    else:
        k_kwargs = g_kwargs = dict(init_kwargs or {})
    k_call = _call_kwargs(call_kwargs, k.layers, torch.tensor)
    g_call = _call_kwargs(call_kwargs, gf.layers, gf.Tensor)

    k.utils.set_random_seed(1234)
    k_layer = getattr(k.layers, name)(**k_kwargs)
    g_layer = getattr(gf.layers, name)(**g_kwargs)
    _invoke(k_layer, [torch.tensor(a) for a in _as_list(arrays)], style, k_call)
    _invoke(g_layer, [gf.Tensor(a) for a in _as_list(arrays)], style, g_call)

    # -- weights: count, split, shapes, names; then Keras's values into gradflow --------------------------------------
    k_weights, g_weights = list(k_layer.weights), list(g_layer.weights)
    k_shapes = [tuple(w.shape) for w in k_weights]
    g_shapes = [tuple(w.shape) for w in g_weights]
    assert g_shapes == k_shapes, f"{where}: weight shapes {g_shapes}, Keras {k_shapes}"
    assert len(g_layer.trainable_weights) == len(k_layer.trainable_weights), \
        f"{where}: {len(g_layer.trainable_weights)} trainable weights, Keras {len(k_layer.trainable_weights)}"
    if weight_names:
        k_names = [w.name for w in k_weights]
        g_names = [w.name.rsplit("/", 1)[-1] for w in g_weights]
        assert g_names == k_names, f"{where}: weight names {g_names}, Keras {k_names}"
    values = k_layer.get_weights()
    g_layer.set_weights(values)

    # -- outputs and gradients, inference then training -------------------------------------------------------------
    modes = (False, True) if training else (False,)
    for mode in modes:
        compare_values = not (mode and random_in_training)
        k_layer.set_weights(values)
        g_layer.set_weights(values)
        k_out, k_in = _run_keras(k, k_layer, arrays, style, k_call, mode, torch, grad and compare_values, input_mask)
        g_out, g_in = _run_gradflow(gf, g_layer, arrays, style, g_call, mode, input_mask)
        assert len(g_out) == len(k_out), f"{where}(training={mode}): {len(g_out)} outputs, Keras {len(k_out)}"
        for i, (go, ko) in enumerate(zip(g_out, k_out)):
            theirs, ours = ko.detach().cpu().numpy(), go.numpy()
            what = f"{where}(training={mode}) output {i}"
            assert ours.shape == theirs.shape, f"{what}: shape {ours.shape}, Keras {theirs.shape}"
            assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype}, Keras {theirs.dtype}"
            if compare_values:
                np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=f"{what}: values")
            k_mask, g_mask = k.src.backend.get_keras_mask(ko), getattr(go, "_keras_mask", None)
            assert (g_mask is None) == (k_mask is None), f"{what}: mask {g_mask}, Keras {k_mask}"
            if k_mask is not None:
                ours_m = g_mask.numpy() if hasattr(g_mask, "numpy") else np.asarray(g_mask)
                np.testing.assert_array_equal(ours_m, k_mask.detach().cpu().numpy(), err_msg=f"{what}: mask")
        k_losses = [float(v.detach().cpu().numpy()) for v in k_layer.losses]
        g_losses = [float(v.numpy()) for v in g_layer.losses]
        assert len(g_losses) == len(k_losses), f"{where}(training={mode}): losses {g_losses}, Keras {k_losses}"
        if compare_values:
            np.testing.assert_allclose(g_losses, k_losses, rtol=rtol, atol=atol,
                                       err_msg=f"{where}(training={mode}): the losses a call adds")
        if mode:  # what a training call updates (moving statistics)
            for i, (gw, kw) in enumerate(zip(g_layer.get_weights(), k_layer.get_weights())):
                if compare_values:
                    np.testing.assert_allclose(gw, kw, rtol=rtol, atol=atol,
                                               err_msg=f"{where}: weight {i} after a training call")
        if not grad or not compare_values:
            continue
        rng = np.random.default_rng(seed + 7)
        float_outs = [i for i, ko in enumerate(k_out) if ko.dtype.is_floating_point and ko.requires_grad]
        if not float_outs:
            continue
        k_loss = sum((k_out[i] * torch.tensor(r)).sum() for i, r in
                     ((i, rng.normal(size=tuple(k_out[i].shape)).astype("float32")) for i in float_outs))
        rng = np.random.default_rng(seed + 7)
        g_loss = sum((g_out[i] * gf.Tensor(r)).sum() for i, r in
                     ((i, rng.normal(size=tuple(g_out[i].shape)).astype("float32")) for i in float_outs))
        k_params = [w.value for w in k_layer.trainable_weights]
        for p in k_params:
            p.grad = None
        for p in g_layer.trainable_weights:
            p.grad = None
        k_loss.backward()
        g_loss.backward()
        if input_grad:
            for i, (gx, kx) in enumerate(zip(g_in, k_in)):
                if kx.grad is None and gx.grad is None:
                    continue
                assert gx.grad is not None, f"{where}(training={mode}): no gradient for input {i} (Keras has one)"
                theirs = kx.grad.numpy() if kx.grad is not None else np.zeros(kx.shape, "float32")
                np.testing.assert_allclose(gx.grad.numpy(), theirs, rtol=grad_rtol, atol=grad_atol,
                                           err_msg=f"{where}(training={mode}): gradient of input {i}")
        for j, (gp, kp, kw) in enumerate(zip(g_layer.trainable_weights, k_params, k_layer.trainable_weights)):
            theirs = kp.grad.numpy() if kp.grad is not None else np.zeros(tuple(kp.shape), "float32")
            ours = gp.grad.numpy() if gp.grad is not None else np.zeros(gp.shape, "float32")
            np.testing.assert_allclose(ours, theirs, rtol=grad_rtol, atol=grad_atol,
                                       err_msg=f"{where}(training={mode}): gradient of weight {kw.name}")

    # -- shapes without running: compute_output_shape and a symbolic call ----------------------------------------------
    batchless = [(None,) + tuple(a.shape[1:]) for a in _as_list(arrays)]
    shape_arg = batchless if multi else batchless[0]
    if output_shape:
        theirs = _keras_output_shape(k_layer, shape_arg, style)
        if theirs is not None:
            ours = _output_shape(g_layer, shape_arg, style)
            assert _plain(ours) == _plain(theirs), f"{where}: compute_output_shape {ours}, Keras {theirs}"
    if symbolic:
        k_sym = _flat(_invoke(k_layer, [k.Input(batch_shape=s, dtype=str(a.dtype))
                                        for s, a in zip(batchless, _as_list(arrays))], style, k_call))
        g_sym = _flat(_invoke(g_layer, [gf.Input(batch_shape=s, dtype=str(a.dtype))
                                        for s, a in zip(batchless, _as_list(arrays))], style, g_call))
        assert [tuple(t.shape) for t in g_sym] == [tuple(t.shape) for t in k_sym], \
            f"{where}: symbolic output shapes {[t.shape for t in g_sym]}, Keras {[t.shape for t in k_sym]}"
        assert [str(t.dtype) for t in g_sym] == [str(t.dtype) for t in k_sym], \
            f"{where}: symbolic output dtypes {[t.dtype for t in g_sym]}, Keras {[t.dtype for t in k_sym]}"

    # -- config: the same keys and values; from_config round trips (gradflow's config and Keras's) --------------------
    if config:
        ignore = IGNORED_CONFIG_KEYS | set(config_ignore)
        k_cfg, g_cfg = _normal(k_layer.get_config()), _normal(g_layer.get_config())
        assert set(g_cfg) == set(k_cfg), (f"{where}: config keys differ: gradflow lacks "
                                          f"{sorted(set(k_cfg) - set(g_cfg))}, has extra {sorted(set(g_cfg) - set(k_cfg))}")
        bad = {key: (g_cfg[key], k_cfg[key]) for key in k_cfg if key not in ignore and g_cfg[key] != k_cfg[key]}
        assert not bad, f"{where}: config values (gradflow, Keras) differ: {bad}"
        sources = [("gradflow's", g_layer.get_config())]
        if keras_config:
            sources.append(("Keras's", k_layer.get_config()))
        cls = type(g_layer)
        for label, cfg in sources:
            clone = cls.from_config(cfg)
            clone_cfg = _normal(clone.get_config())
            bad = {key: (clone_cfg.get(key), g_cfg[key]) for key in g_cfg
                   if key not in ignore and clone_cfg.get(key) != g_cfg[key]}
            assert not bad, f"{where}: from_config({label} config) gives another config: {bad}"
            _invoke(clone, [gf.Tensor(a) for a in _as_list(arrays)], style, g_call, training=False)
            clone.set_weights(values)
            ours = _flat(_invoke(clone, [gf.Tensor(a) for a in _as_list(arrays)], style, g_call, training=False))
            g_layer.set_weights(values)
            again = _flat(_invoke(g_layer, [gf.Tensor(a) for a in _as_list(arrays)], style, g_call, training=False))
            for a, b in zip(ours, again):
                np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=rtol, atol=atol,
                                           err_msg=f"{where}: from_config({label} config) computes otherwise")


# -- helpers ---------------------------------------------------------------------------------------------------------
def _inputs(input_shape, input_dtype, int_bound, inputs, seed):
    if inputs is not None:
        return [np.asarray(a) for a in inputs] if isinstance(inputs, list) else np.asarray(inputs)
    rng = np.random.default_rng(seed)
    multi = isinstance(input_shape, list)
    shapes = input_shape if multi else [input_shape]
    dtypes = list(input_dtype) if not isinstance(input_dtype, str) else [input_dtype] * len(shapes)
    out = []
    for shape, dtype in zip(shapes, dtypes):
        if int_bound is not None or np.dtype(dtype).kind in "iu":
            out.append(rng.integers(0, int_bound or 5, shape).astype(dtype))
        else:
            x = rng.normal(size=shape).astype(dtype)
            x[np.abs(x) < 1e-2] += 0.1  # off the kinks of ReLU-like layers
            out.append(x)
    return out if multi else out[0]


def _as_list(arrays):
    return arrays if isinstance(arrays, list) else [arrays]


def _call_kwargs(call_kwargs, layers, tensor):
    if call_kwargs is None:
        return {}
    if isinstance(call_kwargs, Callable):
        return dict(call_kwargs(layers, tensor))
    return dict(call_kwargs)


def _invoke(layer, tensors, style, call_kwargs, **extra):
    if style == "single":
        return layer(tensors[0], **call_kwargs, **extra)
    if style == "list":
        return layer(list(tensors), **call_kwargs, **extra)
    return layer(*tensors, **call_kwargs, **extra)


def _float(a) -> bool:
    return np.dtype(a.dtype).kind == "f"


def _masks(input_mask, n) -> list:
    if input_mask is None:
        return [None] * n
    return list(input_mask) if isinstance(input_mask, list) else [input_mask] * n


def _run_keras(k, layer, arrays, style, call_kwargs, mode, torch, grad, input_mask=None):
    xs = [torch.tensor(a, requires_grad=grad and _float(a)) for a in _as_list(arrays)]
    for x, m in zip(xs, _masks(input_mask, len(xs))):
        if m is not None:
            k.src.backend.set_keras_mask(x, torch.tensor(np.asarray(m)))
    return _flat(_invoke(layer, xs, style, call_kwargs, training=mode)), xs


def _run_gradflow(gf, layer, arrays, style, call_kwargs, mode, input_mask=None):
    xs = [gf.Tensor(a, requires_grad=_float(a)) for a in _as_list(arrays)]
    for x, m in zip(xs, _masks(input_mask, len(xs))):
        if m is not None:
            x._keras_mask = gf.Tensor(np.asarray(m))
    return _flat(_invoke(layer, xs, style, call_kwargs, training=mode)), xs


def _flat(out) -> list:
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _flat(o)]
    if isinstance(out, dict):
        return [t for key in sorted(out) for t in _flat(out[key])]
    return [out]


def _output_shape(layer, shape, style):
    return layer.compute_output_shape(*shape) if style == "args" else layer.compute_output_shape(shape)


def _keras_output_shape(layer, shape, style):
    try:
        return _output_shape(layer, shape, style)
    except NotImplementedError:
        return None


def _plain(value):
    """Tuples and lists alike, NumPy scalars as Python numbers."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {key: _plain(v) for key, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _normal(cfg):
    """A config with tuples as lists, Keras's ``DTypePolicy`` entry as its dtype name, and the serialization
    envelope's bookkeeping (``module``, ``registered_name``, build config) dropped."""
    if isinstance(cfg, dict):
        if cfg.get("class_name") == "DTypePolicy" and isinstance(cfg.get("config"), dict):
            return cfg["config"].get("name")
        return {key: _normal(v) for key, v in cfg.items()
                if key not in ("module", "registered_name", "build_config", "shared_object_id")}
    if isinstance(cfg, (list, tuple)):
        return [_normal(v) for v in cfg]
    if isinstance(cfg, np.generic):
        return cfg.item()
    return cfg
