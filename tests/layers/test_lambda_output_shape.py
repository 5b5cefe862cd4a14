"""Lambda's output_shape as Keras 3's lambda_layer.py: shapes without the batch axis (taken from the first
input, also for several inputs or several outputs), or a function of the input shape."""
import numpy as np
import pytest

import gradflow as gf


def _dot(k):
    return lambda t: k.ops.sum(t[0] * t[1], axis=-1, keepdims=True)


CASES = [
    ("two_inputs", lambda k: ([k.Input((3,)), k.Input((3,))], dict(function=_dot(k), output_shape=(1,)))),
    ("int_tuple", lambda k: (k.Input((4, 3)), dict(function=lambda t: t * 2, output_shape=(4, 3)))),
    ("callable", lambda k: ([k.Input((3,)), k.Input((3,))],
                            dict(function=lambda t: t[0] + t[1], output_shape=lambda s: s[0]))),
    ("callable_new_axis", lambda k: (k.Input((5,)), dict(function=lambda t: k.ops.expand_dims(t, -1),
                                                          output_shape=lambda s: s + (1,)))),
    ("inferred", lambda k: (k.Input((2, 6)), dict(function=lambda t: k.ops.reshape(t, (-1, 12))))),
]


@pytest.mark.parametrize("name,make", CASES, ids=[c[0] for c in CASES])
def test_lambda_output_shape_matches_keras(real_keras, name, make):
    shapes = []
    for lib in (real_keras, gf):
        inputs, kwargs = make(lib)
        layer = lib.layers.Lambda(**kwargs)
        out = layer(inputs)
        shapes.append(tuple(out.shape))
        if lib is gf:
            model = gf.Model(inputs, out)
            xs = [np.ones((2,) + tuple(i.shape[1:]), np.float32) for i in (inputs if isinstance(inputs, list)
                                                                          else [inputs])]
            assert model.predict(xs if len(xs) > 1 else xs[0], verbose=0).shape[1:] == tuple(out.shape[1:])
    assert shapes[0] == shapes[1]


def test_lambda_several_output_shapes():
    x = gf.Input((3,))
    a, b = gf.layers.Lambda(lambda t: [t, t[:, :1]], output_shape=[(3,), (1,)])(x)
    assert (tuple(a.shape), tuple(b.shape)) == ((None, 3), (None, 1))
    assert gf.layers.Lambda(lambda t: t, output_shape=(1,)).compute_output_shape([(7, 3), (7, 3)]) == (7, 1)
