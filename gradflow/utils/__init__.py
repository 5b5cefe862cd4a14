"""Helpers around training: labels, splits, seeding, image augmentation, history plots."""
from . import image
from .arrays import normalize, to_categorical
from .image_generator import ArrayIterator, ImageDataGenerator
from .plotting import plot_history
from .seed import set_random_seed
from .split import train_test_split

__all__ = [
    "to_categorical", "normalize", "train_test_split", "set_random_seed",
    "ImageDataGenerator", "ArrayIterator", "plot_history", "image",
]
