"""The new applications against real Keras (tests/keras_cases/apps.py: layer names, weight shapes, counts,
outputs on Keras's weights through the Keras-2 h5 reader), and how 'imagenet' weights are fetched: hash
checked, from the cache, a clear error offline."""
import hashlib

import numpy as np
import pytest
from keras_coverage import case_module

import gradflow
from gradflow import applications
from gradflow.applications import _weights
from gradflow.datasets import _files

CASES = case_module("apps")


@pytest.mark.parametrize("name", [*sorted(CASES._SMALL), "NASNetMobile"])
def test_architecture_matches_keras(real_keras, name):
    CASES.application_architecture(real_keras, gradflow, name)


@pytest.mark.parametrize("name", sorted(CASES._MODULES))
def test_module_preprocessing_matches_keras(real_keras, name):
    CASES.application_module(real_keras, gradflow, name)


BIG = ["ResNet101", "ResNet152", "ResNet101V2", "ResNet152V2", "DenseNet169", "DenseNet201", "NASNetLarge",
       *(f"EfficientNetB{i}" for i in range(1, 8)), "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3",
       "EfficientNetV2S", "EfficientNetV2M", "EfficientNetV2L", "ConvNeXtSmall", "ConvNeXtBase", "ConvNeXtLarge",
       "ConvNeXtXLarge"]


@pytest.mark.parametrize("name", BIG)
def test_big_variants_exist(real_keras, name):
    """Too big to build in a unit test: present, with Keras's signature."""
    import inspect  # noqa: PLC0415 - only here

    ours, theirs = inspect.signature(getattr(applications, name)), inspect.signature(getattr(real_keras.applications,
                                                                                               name))
    assert list(ours.parameters) == list(theirs.parameters)
    defaults = {k: p.default for k, p in theirs.parameters.items() if k != "weights"}
    assert {k: p.default for k, p in ours.parameters.items() if k != "weights"} == defaults


def _offline(url):
    raise OSError("no network")


def test_imagenet_weights_are_fetched_checked_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADFLOW_MODELS", str(tmp_path / "models"))
    model = applications.MobileNet(include_top=False, weights=None, input_shape=(32, 32, 3), alpha=0.25)
    model.set_weights([np.full(w.shape, 0.01 * i, "float32") for i, w in enumerate(model.get_weights())])
    source = tmp_path / "mirror.weights.h5"
    model.save_weights(source)
    payload = source.read_bytes()
    served = []

    class Response:
        def __init__(self, url):
            served.append(url)
            self.data = payload

        def read(self, n=-1):
            out, self.data = self.data[:n], self.data[n:]
            return out

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(_files, "_open_url", Response)
    again = applications.MobileNet(include_top=False, weights="imagenet", input_shape=(32, 32, 3), alpha=0.25)
    assert served == ["https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"
                      "mobilenet_2_5_32_tf_no_top.h5"]
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    monkeypatch.setattr(_files, "_open_url", _offline)  # now from the cache
    applications.MobileNet(include_top=False, weights="imagenet", input_shape=(32, 32, 3), alpha=0.25)
    good = _weights.fetch("mobilenet_2_5_32_tf_no_top.h5", "unused", hashlib.md5(payload).hexdigest(), "x")
    assert good.read_bytes() == payload
    with pytest.raises(applications.WeightsUnavailableError, match="expected Keras's published"):
        _weights.fetch("mobilenet_2_5_32_tf_no_top.h5", "unused", "0" * 32, "MobileNet")
    with pytest.raises(applications.WeightsUnavailableError, match=r"cannot be downloaded.*weights=None"):
        applications.DenseNet121(weights="imagenet")
    with pytest.raises(ValueError, match="classes"):
        applications.DenseNet121(weights="imagenet", classes=10)


def test_legacy_h5_mismatch_changes_nothing(tmp_path):
    h5py = pytest.importorskip("h5py")
    model = applications.MobileNet(include_top=False, weights=None, input_shape=(32, 32, 3), alpha=0.25)
    before = [w.copy() for w in model.get_weights()]
    path = tmp_path / "legacy.h5"
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"conv1"]
        g = f.create_group("conv1")
        g.attrs["weight_names"] = [b"conv1/kernel:0"]
        g["conv1/kernel:0"] = np.zeros((3, 3, 3, 8), "float32")
    with pytest.raises(ValueError, match="weights for 1 layers"):
        applications.MobileNet(include_top=False, weights=str(path), input_shape=(32, 32, 3), alpha=0.25)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
