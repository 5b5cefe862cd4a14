"""Differentiable ops on Tensors: elementwise, reductions, shape, linear algebra and nn."""
import sys as _sys
from .elementwise import *  # noqa: F401,F403
from .elementwise import __all__ as _e
from .linalg import matmul
from .recurrent import gru_sequence, lstm_sequence
from .nn import *  # noqa: F401,F403
from .nn import __all__ as _n
from .reduction import *  # noqa: F401,F403
from .reduction import __all__ as _r
from .shape import *  # noqa: F401,F403
from .shape import __all__ as _s
from .keras_names import *  # noqa: F401,F403,E402 - last: its ``shape`` function wins over the submodule name
from .keras_names import __all__ as _k
from . import image  # noqa: E402,F401 - keras.ops.image.resize

__all__ = list(dict.fromkeys([*_e, *_r, *_s, *_n, "matmul", "lstm_sequence", "gru_sequence", *_k]))

# Tensor methods (a + b, t.sum(), ...) call these functions
_sys.modules["gradflow.autograd.tensor"]._F = _sys.modules[__name__]
