"""The inference path (issue 15): outside a gradient context ``predict``, ``evaluate``,
``predict_on_batch`` and ``model(x)`` fold batch norm into the convolution before it and run
conv -> (BN) -> ReLU -> max-pool as one kernel. Its outputs must equal the layers one by one (the
training plan in inference mode) within float32 rounding, under every kernel set and on the
``reference`` backend, and the fused kernel must equal the composed reference."""
import numpy as np
import pytest

import gradflow as gf
from gradflow import dispatch
from gradflow.autograd.grad_mode import no_grad
from gradflow.backend import use_backend
from gradflow.kernels import cpu, reference, vectorized
from gradflow.layers import Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D, ReLU
from gradflow.models import Model, Sequential
from gradflow.models.fusion import fused_layers

VALID = ((0, 0), (0, 0))


# -- the fused kernel -------------------------------------------------------------------------
@pytest.mark.parametrize("shape,F,stride,pad,dil,pool", [
    ((3, 28, 28, 1), 32, (1, 1), VALID, (1, 1), (2, 2)),          # model A's first layer
    ((2, 13, 13, 32), 64, (1, 1), VALID, (1, 1), (2, 2)),         # model A's second (odd size: floor)
    ((2, 16, 16, 3), 32, (1, 1), ((1, 1), (1, 1)), (1, 1), (2, 2)),  # 'same' padding
    ((2, 17, 15, 5), 16, (2, 1), ((1, 0), (2, 1)), (1, 2), (3, 2)),  # strides, dilation, uneven pads/pool
    ((2, 9, 9, 4), 20, (1, 1), VALID, (1, 1), (2, 2)),            # F not a multiple of 8: composed path
    ((1, 9, 11, 4), 24, (1, 1), VALID, (1, 1), (1, 3)),
])
@pytest.mark.parametrize("activation", [None, "relu"])
@pytest.mark.parametrize("with_scale", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_pool_forward_equals_the_reference(shape, F, stride, pad, dil, pool, activation, with_scale, dtype,
                                                  rng):
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((3, 3, shape[3], F)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    scale = rng.standard_normal(F).astype(dtype) if with_scale else None  # negative entries: max after scaling
    want = reference.conv2d_pool_forward(x, w, b, stride, pad, dil, pool, activation=activation, scale=scale)
    # the definition, spelled out: the conv, the affine, the activation, then the max
    y = reference.conv2d_forward(x, w, None, stride, pad, dil).astype(np.float64)
    y = y * (1.0 if scale is None else scale) + b
    y = np.maximum(y, 0) if activation == "relu" else y
    N, OH, OW, _ = y.shape
    ph, pw = pool
    y = y[:, :OH // ph * ph, :OW // pw * pw].reshape(N, OH // ph, ph, OW // pw, pw, F).max(axis=(2, 4))
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(want, y, rtol=tol, atol=tol)
    for impl in (cpu, vectorized):
        got = impl.conv2d_pool_forward(x, w, b, stride, pad, dil, pool, activation=activation, scale=scale)
        assert got.dtype == dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
        out = np.full(want.shape, np.nan, dtype)  # poisoned: every element must be written
        res = impl.conv2d_pool_forward(x, w, b, stride, pad, dil, pool, out=out, activation=activation, scale=scale)
        assert res is out
        np.testing.assert_allclose(out, want, rtol=tol, atol=tol)


def test_conv2d_pool_forward_names_bad_arguments(rng):
    x = rng.random((1, 5, 5, 2), dtype=np.float32)
    w = rng.random((3, 3, 2, 8), dtype=np.float32)
    for impl in (cpu, vectorized, reference):
        with pytest.raises(ValueError, match=r"conv2d_pool_forward: pool \(4, 4\) is larger than the conv output \(3, 3\)"):
            impl.conv2d_pool_forward(x, w, None, (1, 1), VALID, (1, 1), (4, 4))
        with pytest.raises(ValueError, match="conv2d_pool_forward: x has 2 channels but w expects 3"):
            impl.conv2d_pool_forward(x, rng.random((3, 3, 3, 8), dtype=np.float32), None, (1, 1), VALID, (1, 1), (2, 2))
        with pytest.raises(ValueError, match=r"scale must have shape \(8,\)"):
            impl.conv2d_pool_forward(x, w, None, (1, 1), VALID, (1, 1), (2, 2), scale=np.ones(3, np.float32))


def test_fold_batch_norm_equals_conv_then_batch_norm(rng):
    x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 8)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    gamma, beta = rng.standard_normal(8).astype(np.float32), rng.standard_normal(8).astype(np.float32)
    mean, var = rng.standard_normal(8).astype(np.float32), rng.random(8, dtype=np.float32) + 0.1
    y = reference.conv2d_forward(x, w, b, (1, 1), VALID, (1, 1))
    want = (y - mean) / np.sqrt(var + 1e-3) * gamma + beta
    wf, bf = gf.ops.fold_batch_norm(w, b, gamma, beta, mean, var, 1e-3)
    assert wf.dtype == bf.dtype == np.float32
    np.testing.assert_allclose(reference.conv2d_forward(x, wf, bf, (1, 1), VALID, (1, 1)), want, rtol=1e-4, atol=1e-4)
    scale, shift = gf.ops.batch_norm_affine(None, None, None, mean, var, 1e-3)  # no bias, scale or center
    np.testing.assert_allclose(y * 0 + scale, 1 / np.sqrt(var + 1e-3) + 0 * y, rtol=1e-6)
    np.testing.assert_allclose(shift, -mean / np.sqrt(var + 1e-3), rtol=1e-6)


# -- models -----------------------------------------------------------------------------------
def _model_b(size=16):
    """Model B's blocks with trained-looking batch norms: moving statistics away from 0/1 and
    negative gammas, so folding is really exercised (a wrong sign or order shows)."""
    layers = [Input((size, size, 3))]
    for f in (16, 32):
        layers += [Conv2D(f, 3, padding="same"), BatchNormalization(), Activation("relu"), MaxPooling2D(2)]
    model = Sequential(layers + [Flatten(), Dense(10, activation="softmax")])
    _perturb_batch_norms(model)
    return model


def _perturb_batch_norms(model):
    rng = np.random.default_rng(3)
    for layer in model.layers:
        if isinstance(layer, BatchNormalization):
            c = layer.gamma.data.shape[0]
            layer.gamma.assign(rng.normal(0, 1.5, c))
            layer.beta.assign(rng.normal(0, 0.5, c))
            layer.moving_mean.assign(rng.normal(0, 0.3, c))
            layer.moving_variance.assign(rng.uniform(0.2, 3.0, c))


def _unfused(model, x):
    """The training plan's forward in inference mode (gradients recorded, so no inference fusion)."""
    out = model._make_forward()([gf.Tensor._wrap(x)], False)
    return [o.data for o in out]


def test_sequential_inference_plan_fuses_and_equals_the_layers_one_by_one(rng):
    model = _model_b()
    plan = fused_layers(model.layers, inference=True)
    assert [type(layer).__name__ for layer, _ in plan] == ["Conv2D", "Conv2D", "Flatten", "Dense"]
    assert set(plan[0][1]) == {"bn", "activation", "pool"}
    x = rng.random((9, 16, 16, 3), dtype=np.float32)
    want = _unfused(model, x)[0]
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(x, batch_size=4, verbose=0), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict_on_batch(x), want, rtol=1e-5, atol=1e-6)
    with no_grad():
        np.testing.assert_allclose(model(x).numpy(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kernels", ["numba", "numpy", "reference"])
def test_inference_equals_the_training_forward_under_every_kernel_set(kernels, rng):
    old = gf.config.kernels
    gf.config.kernels = kernels
    try:
        model = _model_b()
        x = rng.random((5, 16, 16, 3), dtype=np.float32)
        np.testing.assert_allclose(model.predict(x, verbose=0), _unfused(model, x)[0], rtol=1e-5, atol=1e-6)
    finally:
        gf.config.kernels = old


def test_inference_on_the_reference_backend_equals_the_numpy_backend(rng):
    model = _model_b()
    x = rng.random((4, 16, 16, 3), dtype=np.float32)
    fast = model.predict(x, verbose=0)
    weights = model.get_weights()
    with use_backend("reference"):
        ref_model = _model_b()
        ref_model.set_weights(weights)
        slow = ref_model.predict(x, verbose=0)
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-6)


def test_evaluate_uses_the_same_outputs(rng):
    model = _model_b()
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = rng.random((12, 16, 16, 3), dtype=np.float32)
    y = rng.integers(0, 10, 12)
    probs = _unfused(model, x)[0]
    want = float(np.mean(-np.log(probs[np.arange(12), y])))
    loss, acc = model.evaluate(x, y, batch_size=5, verbose=0)
    assert loss == pytest.approx(want, rel=1e-5)
    assert acc == pytest.approx(float(np.mean(probs.argmax(1) == y)))


def test_model_call_records_a_graph_in_grad_mode_and_not_under_no_grad(rng):
    """``model(x)`` in grad mode is the training plan (input gradients work with training=False,
    as Keras on torch); under no_grad it is the inference plan and records nothing."""
    model = _model_b()
    x = gf.Tensor(rng.random((2, 16, 16, 3), dtype=np.float32), requires_grad=True)
    y = model(x, training=False)
    assert y.requires_grad
    (y * gf.Tensor(rng.random((2, 10), dtype=np.float32))).sum().backward()  # softmax rows sum to 1: weight them
    assert x.grad is not None and np.abs(x.grad.numpy()).sum() > 0
    with no_grad():
        z = model(x)
    assert not z.requires_grad
    np.testing.assert_allclose(z.numpy(), y.numpy(), rtol=1e-5, atol=1e-6)


def test_functional_inference_plan_fuses_only_single_consumer_chains(rng):
    inp = Input((12, 12, 3))
    a = Conv2D(8, 3, padding="same")(inp)
    bn = BatchNormalization()(a)
    r = ReLU()(bn)
    p = MaxPooling2D(2)(r)
    c = Conv2D(8, 3, activation="relu")(p)
    d = MaxPooling2D(2)(c)
    side = BatchNormalization()(Conv2D(8, 1)(p))  # its BN output is also a model output: not folded away
    out = Dense(4)(Flatten()(d))
    model = Model(inp, [out, side])
    _perturb_batch_norms(model)
    forward = model._make_forward()
    assert forward.inference_steps < forward.steps
    x = rng.random((3, 12, 12, 3), dtype=np.float32)
    want = _unfused(model, x)
    got = model.predict(x, verbose=0)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_chains_that_must_not_fold_still_run_right(rng):
    """A conv with its own non-ReLU activation before batch norm, channels_first, a pooling with
    strides != pool_size, and a capped ReLU: none fuses past what it may, all equal the layers."""
    model = Sequential([Input((10, 10, 2)), Conv2D(8, 3, activation="tanh"), BatchNormalization(), ReLU(max_value=0.5),
                        MaxPooling2D(2, strides=1), Conv2D(8, 3, padding="same"), Dropout(0.3), Activation("relu"),
                        MaxPooling2D(2), Flatten(), Dense(3)])
    _perturb_batch_norms(model)
    plan = fused_layers(model.layers, inference=True)
    assert "bn" not in plan[0][1]
    x = rng.random((4, 10, 10, 2), dtype=np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), _unfused(model, x)[0], rtol=1e-5, atol=1e-6)
    cf = Sequential([Input((2, 10, 10)), Conv2D(8, 3, data_format="channels_first"), BatchNormalization(axis=1),
                     Activation("relu"), Flatten(), Dense(3)])
    _perturb_batch_norms(cf)
    xc = rng.random((3, 2, 10, 10), dtype=np.float32)
    np.testing.assert_allclose(cf.predict(xc, verbose=0), _unfused(cf, xc)[0], rtol=1e-5, atol=1e-6)


def test_one_batch_predict_fast_path_matches_and_keeps_callbacks_and_errors(rng):
    model = _model_b()
    x = rng.random((3, 16, 16, 3), dtype=np.float32)
    want = _unfused(model, x)[0]
    np.testing.assert_allclose(model.predict(x[:1], verbose=0), want[:1], rtol=1e-5, atol=1e-6)
    seen = []

    class Count(gf.callbacks.Callback):
        def on_predict_batch_end(self, batch, logs=None):
            seen.append(batch)

    np.testing.assert_allclose(model.predict(x, verbose=0, callbacks=[Count()]), want, rtol=1e-5, atol=1e-6)
    assert seen == [0]  # with callbacks the full pass runs and calls them
    bad = rng.random((2, 16, 16, 4), dtype=np.float32)
    for batch_size in (None, 1):  # one batch (fast path) or two (the full pass): the same error
        with pytest.raises(ValueError, match=r"expected shape=\(None, 16, 16, 3\), found shape=\(2, 16, 16, 4\)"):
            model.predict(bad, batch_size=batch_size, verbose=0)


def test_predict_output_is_not_aliased_to_internal_buffers(rng):
    model = _model_b()
    x = rng.random((2, 16, 16, 3), dtype=np.float32)
    first = model.predict(x, verbose=0)
    keep = first.copy()
    model.predict(rng.random((2, 16, 16, 3), dtype=np.float32), verbose=0)
    np.testing.assert_array_equal(first, keep)


# -- autotuning -------------------------------------------------------------------------------
def test_batch_sizes_share_a_tuning_by_bucket():
    assert [dispatch.batch_bucket(n) for n in (1, 7, 8, 9, 968, 1000, 1024, 1025)] == [1, 7, 8, 16, 1024, 1024, 1024,
                                                                                          2048]
    key = dispatch.shape_key((np.zeros((968, 28, 28, 1), np.float32), np.zeros((3, 3, 1, 32), np.float32)))
    assert key[0] == ((1024, 28, 28, 1), "float32") and key[1] == ((3, 3, 1, 32), "float32")


def test_the_preferred_kernel_keeps_the_op_unless_another_is_clearly_faster(monkeypatch):
    clock = [0.0]  # a fake clock each candidate advances by its own cost: the timing is deterministic
    monkeypatch.setattr(dispatch.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(gf.config, "deterministic", False)  # autotuning is the non-deterministic mode
    monkeypatch.setattr(dispatch, "_busy", lambda: False)
    cost = {"numba": 1.00, "numpy": 0.97}

    def impl(name):
        def run(a, out=None):
            clock[0] += cost[name]
            return a
        return run

    op = "_inference_test_op"
    dispatch.register(op, "numba", impl("numba"))
    dispatch.register(op, "numpy", impl("numpy"))
    try:
        dispatch.call(op, np.zeros(3))  # numpy 3% faster: within the margin, the preferred numba stays
        name, reason = dispatch.choose(op, "cpu", None, dispatch.shape_key((np.zeros(3),)))
        assert name == "numba" and "numba kept: the preferred implementation, within 5% of the fastest" in reason
        cost["numpy"] = 0.5  # now clearly faster: it wins, and explain's reason gives both times
        dispatch.call(op, np.zeros(5))
        name, reason = dispatch.choose(op, "cpu", None, dispatch.shape_key((np.zeros(5),)))
        assert name == "numpy" and "numba 1e+03 ms" in reason and "numpy 500 ms" in reason
    finally:
        dispatch._registry.pop(op, None)
        dispatch.reset()


@pytest.mark.parametrize("activation", ["linear", "relu", "softmax", "sigmoid", "tanh"])
def test_dense_inference_on_the_arrays_equals_the_op_path(activation, rng):
    model = Sequential([Input((7,)), Dense(5, activation=activation), Dense(3, activation=activation, use_bias=False)])
    x = (rng.standard_normal((6, 7)) * 30).astype(np.float32)  # large values: overflow-safe sigmoid/softmax
    np.testing.assert_allclose(model.predict(x, verbose=0), _unfused(model, x)[0], rtol=1e-5, atol=1e-6)
    seq = Sequential([Input((4, 7)), Dense(5, activation=activation)])  # rank 3: the generic path
    x3 = rng.standard_normal((2, 4, 7)).astype(np.float32)
    np.testing.assert_allclose(seq.predict(x3, verbose=0), _unfused(seq, x3)[0], rtol=1e-5, atol=1e-6)


def test_models_called_from_several_threads_keep_their_own_training_flag(rng):
    """The layer call context is per thread: concurrent model calls (a server) neither see nor
    leave behind each other's ``training`` flag."""
    import threading

    model = Sequential([Input((8, 8, 2)), Conv2D(4, 3), Dropout(0.5), Flatten(), Dense(3)])
    x = rng.random((4, 8, 8, 2), dtype=np.float32)
    want = model.predict(x, verbose=0)
    errors = []

    def worker():
        try:
            for _ in range(30):
                with no_grad():
                    np.testing.assert_allclose(model(x, training=False).numpy(), want, rtol=1e-5, atol=1e-6)
                model(x, training=True)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[0]
    from gradflow.layers.base import _CONTEXT

    assert _CONTEXT.training is None and _CONTEXT.depth == 0
    dropped = gf.layers.Dropout(0.5)(gf.Tensor(np.ones((200, 10), np.float32)))  # alone: Keras's inference default
    assert np.allclose(dropped.numpy(), 1.0)
