"""``keras.preprocessing.sequence``."""
from ..utils.sequences import pad_sequences

__all__ = ["pad_sequences"]
