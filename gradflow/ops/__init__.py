"""Differentiable ops on Tensors: elementwise, reductions, shape, linear algebra and nn."""
import types as _types
from collections.abc import Callable
from typing import Any

from ..autograd.tensor import Tensor as _Tensor
from . import _wrap  # noqa: F401 - wraps every public op with the symbolic dispatch before the exports below

# isort: split
from .elementwise import *  # noqa: F401,F403
from .elementwise import __all__ as _e
from .linalg import *  # noqa: F401,F403
from .linalg import __all__ as _l
from .nn import *  # noqa: F401,F403
from .nn import __all__ as _n
from .nn_table import *  # noqa: F401,F403
from .nn_table import __all__ as _a
from .numpy_table import *  # noqa: F401,F403
from .numpy_table import __all__ as _t
from .recurrent import gru_sequence as gru_sequence
from .recurrent import lstm_sequence as lstm_sequence
from .reduction import *  # noqa: F401,F403
from .reduction import __all__ as _r
from .shape import *  # noqa: F401,F403
from .shape import __all__ as _s

# isort: split
# wt-ops
from .control_flow import *  # noqa: F401,F403
from .control_flow import __all__ as _wt_ops_flow
from .core_ops import *  # noqa: F401,F403
from .core_ops import __all__ as _wt_ops_core
from .fft import *  # noqa: F401,F403
from .fft import __all__ as _wt_ops_fft
from .numpy_more import *  # noqa: F401,F403
from .numpy_more import __all__ as _wt_ops_numpy
from .segment import *  # noqa: F401,F403
from .segment import __all__ as _wt_ops_segment

# isort: split
# keras_names last: its ``shape`` function wins over the submodule name
from .keras_names import *  # noqa: F401,F403
from .keras_names import __all__ as _k

# isort: split
# attn
from .attention import *  # noqa: F401,F403
from .attention import __all__ as _attn

# isort: split
from . import image, linalg, nn  # noqa: F401 - keras.ops.image.resize, keras.ops.linalg.*, keras.ops.nn.*

# isort: split
# spatial
from .spatial import *  # noqa: F401,F403 - conv_transpose, adaptive pools, fold/unfold... (and 1-D depthwise_conv)
from .spatial import __all__ as _sp

for _name in _sp:  # keras.ops.nn.<name> too
    setattr(nn, _name, globals()[_name])

linalg.norm = norm  # type: ignore[attr-defined]  # keras.ops.linalg.norm (defined with the Keras names)
for _name in _a:  # keras.ops.nn.<activation>: the table's (wrapped) functions in the ops.nn module too
    setattr(nn, _name, globals()[_name])
for _name in _attn:  # attn: keras.ops.nn.dot_product_attention, layer_normalization, rms_normalization
    setattr(nn, _name, globals()[_name])

__all__ = list(dict.fromkeys([*_e, *_r, *_s, *_n, *_l, "lstm_sequence", "gru_sequence", *_a, *_t, *_k, *_sp,
                              *_attn, *_wt_ops_numpy, *_wt_ops_flow, *_wt_ops_core, *_wt_ops_fft, *_wt_ops_segment]))
nn.polar = polar  # keras.ops.nn.polar (the table's nn ops join ops.nn above)
# keras.ops.nn.relu is keras.ops.relu (the same function), and so are these here
nn.relu, nn.convert_to_tensor = relu, convert_to_tensor
# keras.ops.numpy: the same functions under Keras's submodule name (not in __all__: ``from gradflow.ops
# import *`` must not shadow the numpy package)
numpy = _types.ModuleType("gradflow.ops.numpy", "keras.ops.numpy: gradflow.ops' NumPy-shaped ops.")
numpy.__dict__.update({_name: globals()[_name] for _name in __all__})


# -- Tensor's operators and methods -------------------------------------------------------------
# autograd sits below ops, so Tensor defines none of these: install_tensor_methods attaches them
# (gradflow/__init__ calls it once, right after importing ops). Each looks its op up here at call
# time, so the names above stay the one definition.
def _axes(args):
    """``t.reshape(2, 3)`` and ``t.reshape((2, 3))`` alike."""
    return args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args


_TENSOR_METHODS: dict[str, Callable[..., Any] | property] = {
    "__add__": lambda self, o: add(self, o), "__radd__": lambda self, o: add(o, self),
    "__sub__": lambda self, o: sub(self, o), "__rsub__": lambda self, o: sub(o, self),
    "__mul__": lambda self, o: mul(self, o), "__rmul__": lambda self, o: mul(o, self),
    "__truediv__": lambda self, o: div(self, o), "__rtruediv__": lambda self, o: div(o, self),
    "__pow__": lambda self, o: pow(self, o), "__rpow__": lambda self, o: pow(o, self),
    "__matmul__": lambda self, o: matmul(self, o), "__rmatmul__": lambda self, o: matmul(o, self),
    "__neg__": lambda self: neg(self), "__abs__": lambda self: abs(self),
    "__lt__": lambda self, o: less(self, o), "__le__": lambda self, o: less_equal(self, o),
    "__gt__": lambda self, o: greater(self, o), "__ge__": lambda self, o: greater_equal(self, o),
    "__eq__": lambda self, o: equal(self, o), "__ne__": lambda self, o: not_equal(self, o),
    "__getitem__": lambda self, idx: getitem(self, idx),
    "T": property(lambda self: transpose(self)),
    "astype": lambda self, dtype: cast(self, dtype),
    "to": lambda self, device: to_device(self, device),
    "sum": lambda self, axis=None, keepdims=False: sum(self, axis, keepdims),
    "mean": lambda self, axis=None, keepdims=False: mean(self, axis, keepdims),
    "max": lambda self, axis=None, keepdims=False: max(self, axis, keepdims),
    "min": lambda self, axis=None, keepdims=False: min(self, axis, keepdims),
    "var": lambda self, axis=None, keepdims=False, ddof=0: var(self, axis, keepdims, ddof),
    "std": lambda self, axis=None, keepdims=False, ddof=0: std(self, axis, keepdims, ddof),
    "argmax": lambda self, axis=None: argmax(self, axis),
    "exp": lambda self: exp(self), "log": lambda self: log(self), "sqrt": lambda self: sqrt(self),
    "abs": lambda self: abs(self), "tanh": lambda self: tanh(self), "sigmoid": lambda self: sigmoid(self),
    "relu": lambda self: relu(self), "clip": lambda self, lo=None, hi=None: clip(self, lo, hi),
    "reshape": lambda self, *shape: reshape(self, _axes(shape)),
    "transpose": lambda self, *axes: transpose(self, axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list))
                                               else (axes or None)),
    "flatten": lambda self, start_axis=0: flatten(self, start_axis),
    "expand_dims": lambda self, axis: expand_dims(self, axis),
    "squeeze": lambda self, axis=None: squeeze(self, axis),
    "softmax": lambda self, axis=-1: softmax(self, axis),
    "log_softmax": lambda self, axis=-1: log_softmax(self, axis),
}


def install_tensor_methods(cls: type = _Tensor) -> None:
    """Give ``Tensor`` its operators and op methods (``a + b``, ``t.sum()``, ``t.T``...)."""
    for name, method in _TENSOR_METHODS.items():
        if not isinstance(method, property):
            method.__name__ = method.__qualname__ = name
        setattr(cls, name, method)
