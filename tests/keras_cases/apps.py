"""Differential cases for keras.datasets and keras.applications against real Keras (torch backend).

Datasets: a tiny file in each dataset's published format is read by Keras's loader (its download
replaced by the file) and by gradflow's (``verify=False``: the file is not the published one); the
arrays must be identical. Applications: layer names, weight shapes and parameter counts of the small
variants, and outputs on the same weights."""
import contextlib
import io
import pickle
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
