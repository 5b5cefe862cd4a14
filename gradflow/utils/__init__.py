"""Helpers around training: labels, splits, seeding, image augmentation, history plots."""
from ..saving.serialization import (  # Keras 3 exports these under keras.utils too
    CustomObjectScope,
    custom_object_scope,
    deserialize_keras_object,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
    serialize_keras_object,
)

# utilsopt
from . import bounding_boxes, image, legacy
from .arrays import normalize, to_categorical

# fspace
from .feature_space import FeatureSpace

# metrics
from .general import (
    Config,
    Progbar,
    audio_dataset_from_directory,
    clear_session,
    disable_interactive_logging,
    enable_interactive_logging,
    get_file,
    get_source_inputs,
    is_interactive_logging_enabled,
    is_keras_tensor,
    pack_x_y_sample_weight,
    split_dataset,
    standardize_dtype,
    text_dataset_from_directory,
    unpack_x_y_sample_weight,
)
from .image_files import array_to_img, image_dataset_from_directory, img_to_array, load_img, save_img
from .image_generator import ArrayIterator, ImageDataGenerator
from .model_plot import model_to_dot, plot_model
from .plotting import plot_history
from .py_dataset import PyDataset
from .seed import set_random_seed
from .sequences import pad_sequences
from .split import train_test_split
from .timeseries import timeseries_dataset_from_array

Sequence = PyDataset  # Keras 2's name for the same protocol

__all__ = [
    "to_categorical", "normalize", "train_test_split", "set_random_seed",
    "ImageDataGenerator", "ArrayIterator", "plot_history", "image", "PyDataset", "Sequence",
    "load_img", "img_to_array", "array_to_img", "save_img", "image_dataset_from_directory", "plot_model",
    "model_to_dot", "pad_sequences", "register_keras_serializable", "serialize_keras_object",
    "deserialize_keras_object", "custom_object_scope", "CustomObjectScope", "get_custom_objects",
    "get_registered_name", "get_registered_object", "timeseries_dataset_from_array",
    # metrics
    "Config", "Progbar", "audio_dataset_from_directory", "clear_session", "disable_interactive_logging",
    "enable_interactive_logging", "get_file", "get_source_inputs", "is_interactive_logging_enabled",
    "is_keras_tensor", "pack_x_y_sample_weight", "split_dataset", "standardize_dtype",
    "text_dataset_from_directory", "unpack_x_y_sample_weight",
    # utilsopt
    "bounding_boxes", "legacy",
    # fspace
    "FeatureSpace",
]
