"""Keras-style training callbacks: hooks that ``fit``/``evaluate``/``predict`` call, and the common ones.

A model passed to ``set_model`` needs only what a callback uses: ``stop_training``, ``optimizer``
(with a settable ``learning_rate``), ``get_weights``/``set_weights``, ``save``/``save_weights``.

Layout: ``callback`` (the base class), ``callback_list``, ``history``, ``progbar_logger`` (progress
lines), ``training`` (callbacks that steer training), ``file_writers`` (those that write files),
``swap_ema_weights`` (evaluation with the optimizer's use_ema averages) and ``monitor`` (Keras's
MonitorCallback: what the monitoring ones share).
"""
from __future__ import annotations

from .callback import HOOKS, Callback
from .callback_list import CallbackList
from .file_writers import BackupAndRestore, CSVLogger, ModelCheckpoint, TensorBoard
from .history import History
from .progbar_logger import ProgbarLogger
from .remote_monitor import RemoteMonitor  # metrics
from .swap_ema_weights import SwapEMAWeights  # cb
from .training import EarlyStopping, LambdaCallback, LearningRateScheduler, ReduceLROnPlateau, TerminateOnNaN

__all__ = [
    "Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping", "ModelCheckpoint",
    "LearningRateScheduler", "ReduceLROnPlateau", "CSVLogger", "TerminateOnNaN", "LambdaCallback",
    "BackupAndRestore", "TensorBoard", "HOOKS",
    # metrics
    "RemoteMonitor",
    # cb
    "SwapEMAWeights",
]
