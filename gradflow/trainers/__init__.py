"""Training (Keras 3's ``trainers/``): the one trainer every model kind shares (``trainer``), its
step machinery (``step``), loops (``loops``), the model protocol it relies on (``protocol``), what
``compile`` sets up (``compile_utils``) and the data adapter that checks data and cuts it into
mini-batches (``data_adapter``)."""
from __future__ import annotations

from .trainer import NotCompiledError, Trainer, resolve_verbose

__all__ = ["Trainer", "NotCompiledError", "resolve_verbose"]
