"""MNIST handwritten digits: 60,000 train and 10,000 test 28x28 grey images, labels 0-9.

``load_data()`` reads the four IDX files (gzipped or not) from ``path`` or from
``$GRADFLOW_DATA/mnist``, downloading missing ones (SHA-256 checked) when online.
"""
from __future__ import annotations

from ._files import Remote, RemoteFile
from ._idx import load_idx_dataset

__all__ = ["load_data", "REMOTE"]

# SHA-256 of the published .gz files, as listed in tensorflow/datasets url_checksums/mnist.txt.
REMOTE = Remote(
    dataset="mnist",
    mirrors=(
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
    ),
    files=(
        RemoteFile("train-images-idx3-ubyte.gz",
                   "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        RemoteFile("train-labels-idx1-ubyte.gz",
                   "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        RemoteFile("t10k-images-idx3-ubyte.gz",
                   "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        RemoteFile("t10k-labels-idx1-ubyte.gz",
                   "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    ),
)


def load_data(path=None, verify=None):
    """Return ``((x_train, y_train), (x_test, y_test))``: x uint8 ``(N, 28, 28)``, y uint8 ``(N,)``.

    ``path`` is a directory holding the four IDX files; missing files are downloaded into it
    (default ``$GRADFLOW_DATA/mnist``, ``GRADFLOW_DATA`` defaulting to ``~/.gradflow/datasets``).
    Every file must be the published ``.gz`` with its SHA-256 unless ``verify=False`` (default:
    ``$GRADFLOW_DATA_VERIFY``, on), which also accepts uncompressed copies and your own files.
    """
    return load_idx_dataset(REMOTE, path, verify=verify)
