"""The data adapter checks data against a ModelSpec (a frozen description), not against a model."""
import dataclasses

import numpy as np
import pytest

from gradflow.trainers import data_adapter as da


def _spec(**kw):
    base = dict(input_names=("a", "b"), output_names=("out",), output_shapes=((None, 3),), losses=(None,),
                dtype=np.dtype("float32"))
    base.update(kw)
    return da.ModelSpec(**base)


def test_a_spec_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        _spec().dtype = np.dtype("float64")


def test_inputs_by_name_and_order():
    xs, template = da.split_x({"b": np.zeros((4, 1)), "a": np.ones((4, 2))}, ("a", "b"), "fit")
    assert template is None and [x.shape for x in xs] == [(4, 2), (4, 1)]
    with pytest.raises(ValueError, match=r"missing \['b'\]"):
        da.split_x({"a": np.ones((4, 2))}, ("a", "b"), "fit")


def test_convert_casts_and_checks_against_the_spec():
    spec = _spec(input_dtypes=(np.dtype("float32"), np.dtype("int32")))
    xs, ys, sws = da.convert_for_model(spec, [np.ones((4, 2)), np.ones((4, 1))], np.zeros((4, 3)),
                                       np.ones(4), "fit", True)
    assert [x.dtype for x in xs] == [np.float32, np.int32] and ys[0].dtype == np.float32
    with pytest.raises(ValueError, match="x and y must hold the same number of samples"):
        da.convert_for_model(spec, [np.ones((4, 2)), np.ones((4, 1))], np.zeros((5, 3)), None, "fit", True)
    with pytest.raises(ValueError, match=r"sample_weight has shape \(4, 2\)"):
        da.convert_for_model(spec, [np.ones((4, 2)), np.ones((4, 1))], np.zeros((4, 3)), np.ones((4, 2)),
                             "fit", True)
    free = dataclasses.replace(spec, free_sample_weights=True)  # a custom compute_loss takes any shape
    da.convert_for_model(free, [np.ones((4, 2)), np.ones((4, 1))], np.zeros((4, 3)), np.ones((4, 2)), "fit", True)
