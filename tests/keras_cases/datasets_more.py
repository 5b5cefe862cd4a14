"""Differential case for keras.datasets.cifar10: Keras's own file format (the Python version, pickled
batches, as ``~/.keras/datasets/cifar-10-batches-py`` holds it) read by Keras's loader and by gradflow's.
Keras's loader insists on 5 x 10,000 training images, so the fixture has the full count (uncompressed,
written once, ~180 MB in a temporary folder)."""
import pickle
import tempfile
from pathlib import Path

import numpy as np
from keras_coverage import case


def write_cifar10_python(folder: Path, per_batch: int = 10000, seed: int = 5) -> Path:
    """The ``cifar-10-batches-py`` folder with ``per_batch`` images per batch; returns the folder."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"batch_label": name.encode(), b"labels": [int(v) for v in rng.integers(0, 10, per_batch)],
                 b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 b"filenames": [b"f.png"] * per_batch}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=4))
    return folder


@case("datasets", "cifar10")
def cifar10_keras_file(k, gf):
    import keras.src.datasets.cifar10 as kc  # noqa: PLC0415 - Keras's private loader module, only here

    with tempfile.TemporaryDirectory() as tmp:
        folder = write_cifar10_python(Path(tmp) / "cifar-10-batches-py")
        saved = kc.get_file
        kc.get_file = lambda *a, **kw: tmp
        try:
            theirs = kc.load_data()
        finally:
            kc.get_file = saved
        ours = gf.datasets.cifar10.load_data(path=folder, verify=False)
    for (xo, yo), (xt, yt) in zip(ours, theirs, strict=True):
        for o, t in ((xo, xt), (yo, yt)):
            assert o.dtype == t.dtype and o.shape == t.shape, (o.dtype, o.shape, t.dtype, t.shape)
            np.testing.assert_array_equal(o, t)
