"""Differential cases for keras.datasets and keras.applications against real Keras (torch backend).

Datasets: a tiny file in each dataset's published format is read by Keras's loader (its download
replaced by the file) and by gradflow's (``verify=False``: the file is not the published one); the
arrays must be identical. Applications: the small variants' whole architecture, built without allocating
weights (apps_big.py's exact comparison: layers, weights, configs, shapes, parameter counts), and for one
variant per family the outputs on the same weights."""
import contextlib
import io
import pickle
import re
import tarfile
import tempfile
from pathlib import Path

import numpy as np
from keras_coverage import case


def _ragged(rng, n, top=40):
    return np.array([[int(v) for v in rng.integers(1, top, rng.integers(2, 12))] for _ in range(n)] + [[1]],
                    dtype=object)[:-1]


def write_files(directory: Path) -> dict:
    """Tiny copies of every Keras dataset file, in the published formats; returns name -> path."""
    rng = np.random.default_rng(3)
    paths = {}
    paths["boston_housing.npz"] = directory / "boston_housing.npz"
    np.savez(paths["boston_housing.npz"], x=rng.normal(size=(23, 13)), y=rng.normal(size=23))
    paths["california_housing.npz"] = directory / "california_housing.npz"
    np.savez(paths["california_housing.npz"], x=rng.normal(size=(700, 8)).astype("float32"),
             y=rng.normal(size=700).astype("float32"))
    paths["imdb.npz"] = directory / "imdb.npz"
    np.savez(paths["imdb.npz"], x_train=_ragged(rng, 9), y_train=rng.integers(0, 2, 9),
             x_test=_ragged(rng, 7), y_test=rng.integers(0, 2, 7))
    paths["reuters.npz"] = directory / "reuters.npz"
    np.savez(paths["reuters.npz"], x=_ragged(rng, 13), y=rng.integers(0, 46, 13))
    for name in ("imdb_word_index.json", "reuters_word_index.json"):
        paths[name] = directory / name
        paths[name].write_text('{"the": 1, "a": 2, "film": 3}')
    paths["cifar-100-python.tar.gz"] = directory / "cifar-100-python.tar.gz"
    with tarfile.open(paths["cifar-100-python.tar.gz"], "w:gz") as tar:
        for split, n in (("train", 6), ("test", 4)):
            batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                     b"fine_labels": [int(v) for v in rng.integers(0, 100, n)],
                     b"coarse_labels": [int(v) for v in rng.integers(0, 20, n)], b"filenames": [b"x"] * n}
            blob = pickle.dumps(batch, protocol=4)
            info = tarfile.TarInfo(f"cifar-100-python/{split}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return paths


@contextlib.contextmanager
def _keras_reads(k, module_name, fpath):
    """Keras's loader of ``module_name`` with its ``get_file`` returning ``fpath`` (no download)."""
    import importlib  # noqa: PLC0415 - Keras's private loader module, only here

    mod = importlib.import_module(f"keras.src.datasets.{module_name}")
    saved = mod.get_file
    mod.get_file = lambda *a, **kw: str(fpath)
    try:
        yield mod
    finally:
        mod.get_file = saved


def _same(ours, theirs, what):
    if isinstance(theirs, (tuple, list)):
        assert isinstance(ours, (tuple, list)) and len(ours) == len(theirs), what
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _same(a, b, f"{what}[{i}]")
    elif isinstance(theirs, np.ndarray) and theirs.dtype == object:
        assert ours.dtype == object and ours.shape == theirs.shape, (what, ours.shape, theirs.shape)
        assert [list(map(int, s)) for s in ours] == [list(map(int, s)) for s in theirs], what
    elif isinstance(theirs, np.ndarray):
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, (what, ours.dtype, theirs.dtype)
        np.testing.assert_array_equal(ours, theirs, err_msg=what)
    else:
        assert ours == theirs, what


_SEQ_ARGS = [{}, {"num_words": 20, "skip_top": 3}, {"maxlen": 9, "start_char": None, "oov_char": None},
             {"index_from": 0, "start_char": None, "seed": 7}]


@case("datasets", "boston_housing", "california_housing", "imdb", "reuters", "cifar100")
def dataset_loaders(k, gf, name):
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_files(Path(tmp))
        ours_mod = getattr(gf.datasets, name)
        if name in ("boston_housing", "california_housing"):
            argsets = [{}, {"test_split": 0.3, "seed": 1}]
            if name == "california_housing":
                argsets.append({"version": "small"})
            fpath = paths[f"{name}.npz"]
        elif name == "cifar100":
            argsets = [{}, {"label_mode": "coarse"}]
            fpath = paths["cifar-100-python.tar.gz"]
        else:
            argsets = _SEQ_ARGS + ([{"test_split": 0.5}] if name == "reuters" else [])
            fpath = paths[f"{name}.npz"]
        with _keras_reads(k, name, fpath) as theirs_mod:
            if name == "cifar100":
                import keras.src.datasets.cifar100 as kc  # noqa: PLC0415 - its path is a folder it extracts

                extracted = Path(tmp) / "extracted"
                with tarfile.open(fpath) as tar:
                    tar.extractall(extracted, filter="data")
                kc.get_file = lambda *a, **kw: str(extracted)
            for kwargs in argsets:
                theirs = theirs_mod.load_data(**kwargs)
                ours = ours_mod.load_data(path=fpath, verify=False, **kwargs)
                _same(ours, theirs, f"{name}({kwargs})")
        if name in ("imdb", "reuters"):
            with _keras_reads(k, name, paths[f"{name}_word_index.json"]) as theirs_mod:
                assert ours_mod.get_word_index(paths[f"{name}_word_index.json"], verify=False) == \
                    theirs_mod.get_word_index()
        if name == "reuters":
            assert gf.datasets.reuters.get_label_names() == k.datasets.reuters.get_label_names()


def _idx(array) -> bytes:
    array = np.asarray(array, dtype=np.uint8)
    return bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape) + array.tobytes()


@case("datasets", "mnist", "fashion_mnist")
def idx_datasets(k, gf, name):
    """The same tiny arrays as gzipped IDX files (gradflow's mnist and both fashion_mnist readers) and as
    Keras's mnist.npz: identical arrays from both libraries."""
    import gzip  # noqa: PLC0415 - only this case writes gzipped IDX

    rng = np.random.default_rng(7)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (6, 28, 28)),
              "train-labels-idx1-ubyte": rng.integers(0, 10, 6),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (4, 28, 28)),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, 4)}
    with tempfile.TemporaryDirectory() as tmp:
        for stem, array in arrays.items():
            (Path(tmp) / f"{stem}.gz").write_bytes(gzip.compress(_idx(array)))
        npz = Path(tmp) / "mnist.npz"
        np.savez(npz, x_train=arrays["train-images-idx3-ubyte"].astype(np.uint8),
                 y_train=arrays["train-labels-idx1-ubyte"].astype(np.uint8),
                 x_test=arrays["t10k-images-idx3-ubyte"].astype(np.uint8),
                 y_test=arrays["t10k-labels-idx1-ubyte"].astype(np.uint8))
        import importlib  # noqa: PLC0415 - Keras's private loader module, only here

        mod = importlib.import_module(f"keras.src.datasets.{name}")
        saved = mod.get_file
        mod.get_file = (lambda *a, **kw: str(npz)) if name == "mnist" else \
            (lambda fname, *a, **kw: str(Path(tmp) / fname))
        try:
            theirs = mod.load_data()
        finally:
            mod.get_file = saved
        ours = getattr(gf.datasets, name).load_data(path=tmp, verify=False)
        _same(ours, theirs, name)


# --- applications -------------------------------------------------------------------------------------------

def _is_auto(k, layer):
    """A name Keras numbered itself (``conv2d_7``): it depends on the session's counters, not the model."""
    from keras.src.utils.naming import to_snake_case  # noqa: PLC0415 - Keras's own auto-name rule

    return re.fullmatch(re.escape(to_snake_case(type(layer).__name__)) + r"(_\d+)?", layer.name) is not None


def same_architecture(k, ours, theirs):
    """Same named layers (in order), the same weight shapes per named layer, the same weight count and
    output shape; auto-named layers must at least agree in class and weight shapes, in order."""
    assert ours.count_params() == theirs.count_params(), (ours.count_params(), theirs.count_params())
    assert tuple(ours.output_shape) == tuple(theirs.output_shape), (ours.output_shape, theirs.output_shape)
    assert ours.name == theirs.name, (ours.name, theirs.name)
    named = {layer.name: layer for layer in ours.layers}
    their_named = [layer for layer in theirs.layers if not _is_auto(k, layer)]
    missing = [layer.name for layer in their_named if layer.name not in named]
    assert not missing, f"layers Keras names and gradflow lacks: {missing[:10]}"
    for layer in their_named:
        mine = named[layer.name]
        assert type(mine).__name__ == type(layer).__name__, (layer.name, type(mine).__name__, type(layer).__name__)
        shapes = [tuple(w.shape) for w in layer.weights]
        assert [tuple(w.shape) for w in mine.weights] == shapes, (layer.name, shapes)
    assert sorted(tuple(w.shape) for w in ours.weights) == sorted(tuple(w.shape) for w in theirs.weights)
    # Keras's ``x + y`` on symbolic tensors is an operation, not a layer; gradflow's is an OpLayer
    layers = [layer for layer in ours.layers if type(layer).__name__ != "OpLayer"]
    assert len(layers) == len(theirs.layers), (len(layers), len(theirs.layers))


def same_outputs(k, gf, ours, theirs, shape, tmp, rtol=2e-4, atol=2e-5):
    """Keras's random weights, written as a Keras-2 h5 (the layout of the published ImageNet files), loaded
    into gradflow's model; then the same predictions on the same inputs."""
    import h5py  # noqa: PLC0415 - only to write the Keras-2 h5 file
    from keras.src.legacy.saving import legacy_h5_format  # noqa: PLC0415 - Keras's writer of that layout

    rng = np.random.default_rng(0)
    for w in theirs.weights:  # non-trivial moving statistics too
        value = rng.normal(size=tuple(w.shape)).astype("float32") * 0.2
        if "variance" in w.path:
            value = np.abs(value) + 0.5
        w.assign(value)
    path = Path(tmp) / "weights.h5"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, theirs)
    gf.applications._common.load_weights(ours, str(path))
    x = rng.uniform(-1, 1, size=shape).astype("float32")
    theirs_y = k.ops.convert_to_numpy(theirs(x, training=False))
    ours_y = ours(x, training=False).numpy()
    # float32 rounding grows with the terms summed: a small output among ~1e9 ones (VGG's, unnormalized) differs
    # by more than rtol of itself, not of the output's scale
    atol = max(atol, 1e-5 * float(np.abs(theirs_y).max()))
    np.testing.assert_allclose(ours_y, theirs_y, rtol=rtol, atol=atol)


_SMALL = {  # name -> kwargs of a small, quick variant (both libraries)
    "ResNet50": {"include_top": False, "input_shape": (32, 32, 3), "pooling": "avg"},
    "ResNet50V2": {"include_top": False, "input_shape": (32, 32, 3), "pooling": "max"},
    "DenseNet121": {"include_top": False, "input_shape": (32, 32, 3)},
    "MobileNet": {"include_top": True, "input_shape": (32, 32, 3), "alpha": 0.25, "classes": 7},
    "MobileNetV2": {"include_top": False, "input_shape": (32, 32, 3), "alpha": 0.35},
    "Xception": {"include_top": False, "input_shape": (71, 71, 3), "pooling": "avg"},
    "InceptionV3": {"include_top": False, "input_shape": (75, 75, 3)},
    "InceptionResNetV2": {"include_top": False, "input_shape": (75, 75, 3), "pooling": "avg"},
    "VGG16": {"include_top": False, "input_shape": (32, 32, 3)},
    "EfficientNetB0": {"include_top": False, "input_shape": (32, 32, 3), "pooling": "avg"},
    "ConvNeXtTiny": {"include_top": False, "input_shape": (32, 32, 3), "pooling": "avg"},
    "EfficientNetV2B0": {"include_top": False, "input_shape": (32, 32, 3), "pooling": "avg"},
    "MobileNetV3Small": {"include_top": True, "input_shape": (32, 32, 3), "alpha": 0.75, "classes": 5},
    "MobileNetV3Large": {"include_top": False, "input_shape": (32, 32, 3), "minimalistic": True},
    "VGG19": {"include_top": False, "input_shape": (32, 32, 3), "pooling": "max"},
}
_OUTPUTS = {"MobileNet": (2, 32, 32, 3), "ResNet50V2": (1, 32, 32, 3), "EfficientNetB0": (1, 32, 32, 3),
            "ConvNeXtTiny": (1, 32, 32, 3), "MobileNetV3Small": (1, 32, 32, 3),
            "EfficientNetV2B0": (1, 32, 32, 3),
            # one forward per family: ResNet v1, DenseNet, MobileNetV2, VGG, Xception, Inception (not
            # InceptionResNetV2: 55M weights, ~15 s; nor NASNet, whose Keras refuses the torch backend)
            "ResNet50": (1, 32, 32, 3), "DenseNet121": (1, 32, 32, 3), "MobileNetV2": (1, 32, 32, 3),
            "VGG16": (1, 32, 32, 3), "Xception": (1, 71, 71, 3), "InceptionV3": (1, 75, 75, 3)}


#: looser where random weights without normalization drive activations to ~1e23 (float32 summation order)
_OUTPUT_RTOL = {"InceptionV3": 1e-2}


def _exact():
    """apps_big.py (by path, as keras_coverage loads it): the shape-only builds and the exact comparison."""
    import importlib.util  # noqa: PLC0415 - a sibling cases module, loaded once

    if "module" not in _EXACT:
        spec = importlib.util.spec_from_file_location("_apps_big_for_apps", Path(__file__).with_name("apps_big.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _EXACT["module"] = module
    return _EXACT["module"]


_EXACT: dict = {}


def _keras_nasnet_mobile(**kwargs):
    """Keras's NASNetMobile refuses the torch backend; its NASNet builds the same model."""
    from keras.src.applications.nasnet import NASNet  # noqa: PLC0415 - Keras's builder behind NASNetMobile

    return NASNet(penultimate_filters=1056, num_blocks=4, stem_block_filters=32, skip_reduction=False,
                  filter_multiplier=2, default_size=224, name="nasnet_mobile", **kwargs)


@case("applications", *_SMALL, "NASNetMobile")
def application_architecture(k, gf, name):
    """The whole architecture without allocating weights (apps_big.py's exact comparison), then, for one
    variant per family, the same outputs on the same (Keras's random) weights."""
    exact = _exact()
    if name == "NASNetMobile":
        kwargs = {"include_top": False, "input_shape": (32, 32, 3), "weights": None}
        with exact.keras_shape_only(k):
            theirs = _keras_nasnet_mobile(**kwargs)
    else:
        kwargs = dict(_SMALL[name], weights=None)
        with exact.keras_shape_only(k):
            theirs = getattr(k.applications, name)(**kwargs)
    with exact.shape_only(gf):
        ours = getattr(gf.applications, name)(**kwargs)
    exact.same_architecture_exactly(k, ours, theirs)
    same_architecture(k, ours, theirs)
    if name in _OUTPUTS:
        theirs, ours = getattr(k.applications, name)(**kwargs), getattr(gf.applications, name)(**kwargs)
        with tempfile.TemporaryDirectory() as tmp:
            same_outputs(k, gf, ours, theirs, _OUTPUTS[name], tmp, rtol=_OUTPUT_RTOL.get(name, 2e-4))


_MODULES = {"imagenet_utils": None, "resnet": "caffe", "resnet50": "caffe", "resnet_v2": "tf", "vgg16": "caffe",
            "vgg19": "caffe", "densenet": "torch", "mobilenet": "tf", "mobilenet_v2": "tf", "xception": "tf",
            "inception_v3": "tf", "efficientnet": None, "convnext": None, "mobilenet_v3": None, "efficientnet_v2": None, "inception_resnet_v2": "tf", "nasnet": "tf"}


@case("applications", *_MODULES)
def application_module(k, gf, name):
    ours_mod, theirs_mod = getattr(gf.applications, name), getattr(k.applications, name)
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 255, size=(2, 5, 4, 3)).astype("float32")
    modes = [{"mode": m} for m in ("caffe", "tf", "torch")] if name == "imagenet_utils" else [{}]
    for kwargs in modes:
        for data_format in (None, "channels_first"):
            x = images if data_format is None else np.ascontiguousarray(images.transpose(0, 3, 1, 2))
            theirs = theirs_mod.preprocess_input(x.copy(), data_format=data_format, **kwargs)
            ours = ours_mod.preprocess_input(x.copy(), data_format=data_format, **kwargs)
            np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-4, err_msg=f"{name} {kwargs}")
            assert ours.dtype == theirs.dtype
        as_tensor = ours_mod.preprocess_input(gf.ops.convert_to_tensor(images), **kwargs)
        np.testing.assert_allclose(as_tensor.numpy(), theirs_mod.preprocess_input(images.copy(), **kwargs),
                                   rtol=1e-6, atol=1e-4, err_msg=f"{name} {kwargs} on a tensor")
    ints = rng.integers(0, 255, size=(1, 3, 3, 3)).astype("uint8")
    np.testing.assert_allclose(ours_mod.preprocess_input(ints.copy()), theirs_mod.preprocess_input(ints.copy()),
                               rtol=1e-6, atol=1e-4)
    from keras.src.applications import imagenet_utils as kiu  # noqa: PLC0415 - its class index cache

    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    saved = kiu.CLASS_INDEX, gf.applications.imagenet_utils.CLASS_INDEX
    kiu.CLASS_INDEX = gf.applications.imagenet_utils.CLASS_INDEX = index
    try:
        preds = rng.uniform(size=(2, 1000)).astype("float32")
        assert ours_mod.decode_predictions(preds, top=3) == theirs_mod.decode_predictions(preds, top=3)
    finally:
        kiu.CLASS_INDEX, gf.applications.imagenet_utils.CLASS_INDEX = saved
