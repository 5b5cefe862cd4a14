"""Training (Keras 3's ``trainers/``): the one trainer every model kind shares, what ``compile``
sets up, and the data adapter that turns arrays and batch sources into mini-batches."""
from .trainer import NotCompiledError, Trainer, resolve_verbose

__all__ = ["Trainer", "NotCompiledError", "resolve_verbose"]
