"""Ports of keras-io programs that wait for gradflow features being built in other branches (issue 22).

Each is written and checked against real Keras 3 already and is meant to move, unchanged, up into
``tests/keras_io/`` once the features it needs are merged. ``BLOCKERS.md`` lists, per port, the first
failure on gradflow and the feature it waits for; ``run_pending.py`` runs them all on gradflow.

Pytest does not collect them here, except when ``GRADFLOW_RUN_PENDING=1`` (which ``run_pending.py`` sets).
The names below re-export ``tests/keras_io/conftest.py``, so their ``from .conftest import ...`` lines work
both here and after the move.
"""
import os

from ..conftest import IGNORE_TORCH_ARRAY_WARNING, class_images, parse_summary_params  # noqa: F401

collect_ignore_glob = [] if os.environ.get("GRADFLOW_RUN_PENDING") == "1" else ["test_*.py"]
