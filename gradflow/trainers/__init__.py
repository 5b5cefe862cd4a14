"""Training (Keras 3's ``trainers/``): the one trainer every model kind shares (``trainer``), its
step machinery (``step``), loops (``loops``), the model protocol it relies on (``protocol``), what
``compile`` sets up (``compile_utils``) and the data adapter that checks data and cuts it into
mini-batches (``data_adapter``).

The package's own names load on first use, so a low-level module (the optimizers take
``step.sigint_deferred``) can import a submodule without loading the whole trainer.
"""
from __future__ import annotations

import importlib

__all__ = ["Trainer", "NotCompiledError", "resolve_verbose"]


def __getattr__(name: str):
    if name in __all__:
        return getattr(importlib.import_module(".trainer", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
