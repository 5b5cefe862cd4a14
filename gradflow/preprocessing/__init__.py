"""``keras.preprocessing`` (Keras 3 keeps it for ``sequence.pad_sequences`` and the image helpers)."""
from ..utils import image_dataset_from_directory, timeseries_dataset_from_array
from . import image, sequence

__all__ = ["sequence", "image", "image_dataset_from_directory", "timeseries_dataset_from_array"]
