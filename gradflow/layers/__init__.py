"""Keras-style layers: the Layer base class and the built-in layers, one module per family."""
from ..saving.serialization import deserialize_keras_object, serialize_keras_object
from .activations import ELU, LeakyReLU, PReLU, ReLU, Softmax
from .attention import MultiHeadAttention
from .augmentation import RandomBrightness, RandomContrast, RandomFlip, RandomRotation, RandomTranslation, RandomZoom

# augment
from .augmentation_color import (
    AutoContrast,
    Equalization,
    RandomColorDegeneration,
    RandomColorJitter,
    RandomGrayscale,
    RandomHue,
    RandomInvert,
    RandomPosterization,
    RandomSaturation,
    RandomSharpness,
    Solarization,
)
from .augmentation_geometry import (
    CutMix,
    MaxNumBoundingBoxes,
    MixUp,
    RandomCrop,
    RandomElasticTransform,
    RandomErasing,
    RandomGaussianBlur,
    RandomPerspective,
    RandomShear,
)
from .augmentation_policy import AugMix, ContrastLimitedAdaptiveHistogramEqualization, RandAugment
from .base import Layer, clear_session, layer_class, register_alias, registered_layers, snake_case
from .convolutional import (
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv2DTranspose,
    Convolution1D,
    Convolution1DTranspose,
    Convolution2D,
    Convolution2DTranspose,
    DepthwiseConv2D,
    SeparableConv2D,
    SeparableConvolution2D,
)
from .convolutional3d import AveragePooling3D, Conv3D, GlobalAveragePooling3D, GlobalMaxPooling3D, MaxPooling3D
from .core import Activation, Dense, Identity
from .embedding import Embedding
from .input_layer import Input, InputLayer
from .lambda_layer import Lambda
from .masking import Masking
from .merging import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)
from .normalization import BatchNormalization, GroupNormalization, LayerNormalization, UnitNormalization
from .operations import TensorOp
from .pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AvgPool1D,
    AvgPool2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPool1D,
    MaxPool2D,
    MaxPooling1D,
    MaxPooling2D,
)
from .preprocessing import CenterCrop, Normalization, Rescaling, Resizing
from .regularization import Dropout
from .reshaping import Cropping2D, Flatten, Permute, RepeatVector, Reshape, UpSampling1D, UpSampling2D, ZeroPadding2D
from .rnn import GRU, LSTM, RNN, Bidirectional, SimpleRNN
from .rnn_cells import GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells
from .symbolic import KerasTensor
from .time_distributed import TimeDistributed

# preproc
# isort: split
from .category_encoding import CategoryEncoding
from .discretization import Discretization
from .hashing import HashedCrossing, Hashing
from .lookup import IntegerLookup, StringLookup
from .pipeline import Pipeline
from .text_vectorization import TextVectorization

# isort: split
# spatial
from .conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from .spatial1d3d import (
    AdaptiveAveragePooling1D,
    AdaptiveAveragePooling2D,
    AdaptiveAveragePooling3D,
    AdaptiveMaxPooling1D,
    AdaptiveMaxPooling2D,
    AdaptiveMaxPooling3D,
    AvgPool3D,
    Conv3DTranspose,
    Convolution3D,
    Convolution3DTranspose,
    Cropping1D,
    Cropping3D,
    DepthwiseConv1D,
    GlobalAvgPool3D,
    GlobalMaxPool3D,
    MaxPool3D,
    SeparableConv1D,
    SeparableConvolution1D,
    UpSampling3D,
    ZeroPadding1D,
    ZeroPadding3D,
)

# isort: split
# layers
from .dot_attention import AdditiveAttention, Attention
from .einsum_dense import EinsumDense
from .input_spec import InputSpec
from .noise import (
    ActivityRegularization,
    AlphaDropout,
    GaussianDropout,
    GaussianNoise,
    SpatialDropout1D,
    SpatialDropout2D,
    SpatialDropout3D,
)
from .reversible_embedding import ReversibleEmbedding
from .spectrogram import MelSpectrogram, STFTSpectrogram
from .wrappers import SpectralNormalization, Wrapper

# isort: split
# attn
from .attention import GroupQueryAttention
from .normalization import RMSNormalization

__all__ = [
    "Masking",
    "Layer", "layer_class", "registered_layers", "register_alias", "clear_session", "snake_case",
    "Input", "InputLayer", "Dense", "Activation", "Conv2D", "Convolution2D",
    "MaxPooling2D", "AveragePooling2D", "MaxPool2D", "AvgPool2D",
    "GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAvgPool2D", "GlobalMaxPool2D",
    "Flatten", "Reshape", "UpSampling2D", "Dropout", "BatchNormalization",
    "RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom", "RandomContrast", "RandomBrightness",
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
    "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "TensorOp", "KerasTensor",
    "Dot", "dot", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "Embedding", "Lambda", "LayerNormalization",
    "Conv1D", "Convolution1D", "Conv2DTranspose", "Convolution2DTranspose", "Conv1DTranspose", "Convolution1DTranspose",
    "MaxPooling1D", "AveragePooling1D",
    "MaxPool1D", "AvgPool1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D", "GlobalAvgPool1D", "GlobalMaxPool1D",
    "Rescaling", "Normalization", "CenterCrop", "Resizing", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "ConvLSTM2D",
    "MultiHeadAttention", "DepthwiseConv2D", "SeparableConv2D", "SeparableConvolution2D", "ZeroPadding2D",
    "Cropping2D", "Conv3D", "MaxPooling3D", "AveragePooling3D", "GlobalAveragePooling3D", "GlobalMaxPooling3D",
    "GroupNormalization", "UnitNormalization", "UpSampling1D", "RepeatVector", "Permute", "Identity",
    "RNN", "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells", "TimeDistributed",
    "serialize", "deserialize",
    # preproc
    "CategoryEncoding", "Discretization", "Hashing", "HashedCrossing", "IntegerLookup", "StringLookup", "Pipeline",
    "TextVectorization",
    # spatial
    "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D", "AdaptiveMaxPooling1D",
    "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D", "AvgPool3D", "Conv3DTranspose", "Convolution3D",
    "Convolution3DTranspose", "Cropping1D", "Cropping3D", "DepthwiseConv1D", "GlobalAvgPool3D", "GlobalMaxPool3D",
    "MaxPool3D", "SeparableConv1D", "SeparableConvolution1D", "UpSampling3D", "ZeroPadding1D", "ZeroPadding3D",
    # augment
    "AugMix", "AutoContrast", "CutMix", "MixUp", "RandAugment", "Equalization",
    "ContrastLimitedAdaptiveHistogramEqualization", "MaxNumBoundingBoxes", "RandomColorDegeneration",
    "RandomColorJitter", "RandomCrop", "RandomElasticTransform", "RandomErasing", "RandomGaussianBlur",
    "RandomGrayscale", "RandomHue", "RandomInvert", "RandomPerspective", "RandomPosterization", "RandomSaturation",
    "RandomSharpness", "RandomShear", "Solarization",
    # layers
    "Attention", "AdditiveAttention", "ActivityRegularization", "AlphaDropout", "GaussianDropout", "GaussianNoise",
    "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "EinsumDense", "Wrapper",
    "SpectralNormalization", "ReversibleEmbedding", "InputSpec",
    "ConvLSTM1D", "ConvLSTM3D",
    "ConvLSTM1D", "ConvLSTM3D", "MelSpectrogram", "STFTSpectrogram",
    # attn
    "GroupQueryAttention", "RMSNormalization",
]


def serialize(layer) -> dict:
    """A layer's ``{"module", "class_name", "config", "registered_name"}`` entry (Keras 3)."""
    return serialize_keras_object(layer)


def deserialize(config: dict, custom_objects=None):
    """The layer a ``serialize`` entry describes."""
    return deserialize_keras_object(config, custom_objects=custom_objects)
