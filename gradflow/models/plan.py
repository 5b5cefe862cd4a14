"""How a model's planned forward pass runs its steps: one layer's ``call`` (:func:`layer_runner`) and
the switch between the training and the inference plan (:func:`training_or_inference`). Shared by
Sequential, Functional and the fusion rewrite, below all three."""
from __future__ import annotations

from .._threads import inference_threads
from ..autograd.grad_mode import is_grad_enabled
from ..layers.base import _CONTEXT, _call_flags

__all__ = ["layer_runner", "training_or_inference", "mixed_precision"]


def layer_runner(layer, static=None):
    """``f(x, training=...)`` running one layer's ``call`` inside a model's planned forward pass,
    built-in and user-defined layers alike: ``call`` directly (``training`` only where it takes
    it; the plan checked the shapes when the model was built, and :func:`training_or_inference`
    set the call context that the layers a ``call`` calls inherit). A nested model, or a call
    with ``static`` arguments recorded in the graph (such as ``training=False`` on a frozen base
    model, which wins), goes through ``_invoke``."""
    static = dict(static or {})
    if not static and not hasattr(layer, "_make_forward") and not _casts_inputs(layer):  # a layer, not a
        # nested model (nor a mixed-precision layer, whose _invoke casts its inputs and variables)
        call = layer.call
        if _call_flags(type(layer))[0]:
            return call
        return lambda x, training: call(x)
    if "training" in static:
        fixed = static["training"]
        return lambda x, training: layer._invoke(x, (), dict(static), fixed)
    return lambda x, training: layer._invoke(x, (), dict(static), training)


def mixed_precision(layer) -> bool:
    """Whether ``layer`` computes in another dtype than its variables' (a mixed_float16 policy)."""
    policy = layer.__dict__.get("_dtype_policy")
    return policy is not None and policy.is_mixed


def _casts_inputs(layer) -> bool:
    """A mixed-precision layer, or one given its dtype explicitly (a float32 head in a mixed model): its
    ``_invoke`` casts half-precision inputs."""
    return mixed_precision(layer) or layer.__dict__.get("_explicit_dtype", False)


def training_or_inference(training_plan, inference_plan):
    """``forward(x, training)`` running ``inference_plan`` (models.fusion's inference fusions)
    when not training and no graph is being recorded (predict, evaluate, ``model(x)`` under
    ``no_grad``), with BLAS kept to its inference thread count, else ``training_plan``. The
    layers it runs see ``training`` as the call context (a layer a ``call`` calls inherits it)."""
    def forward(x, training):
        training = bool(training)
        ctx = _CONTEXT
        previous = ctx.training
        ctx.training = training
        ctx.depth += 1
        try:
            if training or is_grad_enabled():
                return training_plan(x, training)
            with inference_threads(x[0] if x else None):
                return inference_plan(x, False)
        finally:
            ctx.depth -= 1
            ctx.training = previous

    forward.steps = getattr(training_plan, "steps", None)
    forward.inference_steps = getattr(inference_plan, "steps", None)
    return forward
