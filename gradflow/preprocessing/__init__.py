"""``keras.preprocessing`` (Keras 3 keeps it for ``sequence.pad_sequences`` and the image helpers)."""
from . import image, sequence

__all__ = ["sequence", "image"]
