"""The base ``Callback`` (Keras 3's hooks) and which hooks a callback implements."""
from __future__ import annotations

__all__ = ["Callback", "HOOKS", "BATCH_HOOKS", "overrides_hook"]

HOOKS = (
    "on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
    "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
    "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
    "on_predict_batch_begin", "on_predict_batch_end",
)
BATCH_HOOKS = {
    "train": ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end"),
    "test": ("on_test_batch_begin", "on_test_batch_end"),
    "predict": ("on_predict_batch_begin", "on_predict_batch_end"),
}

class Callback:
    """Base class: override the hooks you need. ``self.model`` and ``self.params`` are set by ``fit``.

    ``on_train_batch_begin/end`` call ``on_batch_begin/end`` (the older names), as in Keras.
    """

    def __init__(self):
        self.model = None
        self.params = None  # as Keras: set by fit (set_params)

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self.model = model

    def on_batch_begin(self, batch, logs=None):
        """Alias of ``on_train_batch_begin``."""

    def on_batch_end(self, batch, logs=None):
        """Alias of ``on_train_batch_end``."""

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    #: whether the ``*_batch_end`` hooks take ``logs`` as a callable returning the dict (read only
    #: when used, so a throttled progress bar never waits for a GPU); a CallbackList hands it so
    _lazy_logs = False

    def _wants_batch_hooks(self, kind: str) -> bool:
        """Whether this callback does something per batch of ``kind`` ('train', 'test', 'predict')."""
        return any(overrides_hook(self, hook) for hook in BATCH_HOOKS[kind])


def overrides_hook(cb, hook) -> bool:
    """Whether ``cb`` does something in ``hook`` (its class or the instance replaces the base no-op)."""
    if hook in vars(cb):  # set on the instance (LambdaCallback)
        return True
    return getattr(type(cb), hook, None) is not getattr(Callback, hook)


