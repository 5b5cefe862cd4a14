"""Fashion-MNIST: 60,000 train and 10,000 test 28x28 grey images of 10 kinds of clothing.

Same IDX files and layout as MNIST; read from ``path`` or ``$GRADFLOW_DATA/fashion_mnist``,
downloading missing ones (SHA-256 checked) when online.
"""
from __future__ import annotations

from ._files import Remote, RemoteFile
from ._idx import load_idx_dataset

__all__ = ["load_data", "REMOTE", "CLASS_NAMES"]

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

# SHA-256 of the published .gz files, as listed in tensorflow/datasets url_checksums/fashion_mnist.txt.
REMOTE = Remote(
    dataset="fashion_mnist",
    mirrors=(
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
    files=(
        RemoteFile("train-images-idx3-ubyte.gz",
                   "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        RemoteFile("train-labels-idx1-ubyte.gz",
                   "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        RemoteFile("t10k-images-idx3-ubyte.gz",
                   "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        RemoteFile("t10k-labels-idx1-ubyte.gz",
                   "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    ),
)


def load_data(path=None, verify=None):
    """Return ``((x_train, y_train), (x_test, y_test))``: x uint8 ``(N, 28, 28)``, y uint8 ``(N,)``.

    ``path`` is a directory holding the four IDX files; missing files are downloaded into it
    (default ``$GRADFLOW_DATA/fashion_mnist``). Every file must be the published ``.gz`` with its
    SHA-256 unless ``verify=False`` (default: ``$GRADFLOW_DATA_VERIFY``, on).
    """
    return load_idx_dataset(REMOTE, path, verify=verify)
