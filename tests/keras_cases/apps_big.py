"""Differential cases for the big keras.applications (ResNet101/152 and V2, DenseNet169/201, EfficientNetB1-B7,
EfficientNetV2B1-L, ConvNeXtSmall-XLarge, NASNetLarge) against real Keras (torch backend), at their default
size with the top, without allocating their weights (their forward numerics: the small variant of each
family in ``apps.py``).

Keras builds under ``keras.device("meta")`` (torch's shape-only device); gradflow builds with initializers that
return zero-stride ``np.broadcast_to`` views (one element per weight). Both sides then expose the whole
architecture: the layer sequence (classes, Keras's explicit names), each layer's weight paths, shapes,
trainability and order, its config (constructor arguments), each layer's output shape, the model's input and
output shapes and its parameter counts."""
import contextlib
import re

import numpy as np
from keras_coverage import case

BIG = ("ResNet101", "ResNet152", "ResNet101V2", "ResNet152V2", "DenseNet169", "DenseNet201",
       *(f"EfficientNetB{i}" for i in range(1, 8)), "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3",
       "EfficientNetV2S", "EfficientNetV2M", "EfficientNetV2L", "ConvNeXtSmall", "ConvNeXtBase", "ConvNeXtLarge",
       "ConvNeXtXLarge", "NASNetLarge")

#: config keys Keras's layers have and gradflow's do not yet (the layers' own issue, not the architecture)
CONFIG_KEYS_NOT_COMPARED = frozenset({"renorm", "renorm_clipping", "renorm_momentum"})


@contextlib.contextmanager
def shape_only(gf):
    """gradflow's weights as zero-stride views of one zero: every shape, (almost) no memory. Only the values
    ``Layer.add_weight`` asks for change: the layers keep (and serialize) their real initializers."""
    initializers, layer_class = gf.initializers, gf.layers.Layer
    real_get, real_add_weight = initializers.get, layer_class.add_weight
    inside = []

    def get(identifier):
        found = real_get(identifier)
        if not inside:
            return found

        def init(shape, dtype=None, **kwargs):
            return np.broadcast_to(np.zeros((), dtype=np.dtype(dtype or "float32")), tuple(shape))
        return init

    def add_weight(self, *args, **kwargs):
        inside.append(self)
        try:
            return real_add_weight(self, *args, **kwargs)
        finally:
            inside.pop()

    initializers.get, layer_class.add_weight = get, add_weight
    try:
        yield
    finally:
        initializers.get, layer_class.add_weight = real_get, real_add_weight


@contextlib.contextmanager
def keras_shape_only(k):
    """Keras on torch's ``meta`` device, its initializers skipped (a meta tensor has no values to compute)."""
    import torch  # noqa: PLC0415 - Keras's backend here, only for its empty meta tensors
    from keras.src.backend.common.variables import Variable  # noqa: PLC0415 - the method to skip
    from keras.src.backend.torch.core import to_torch_dtype  # noqa: PLC0415 - Keras's dtype mapping

    real = Variable._initialize_with_initializer

    def initialize(self, initializer):
        self._initialize(torch.empty(self._shape, dtype=to_torch_dtype(self._dtype), device="meta"))

    Variable._initialize_with_initializer = initialize
    try:
        with k.device("meta"):
            yield
    finally:
        Variable._initialize_with_initializer = real


def _auto(k, layer) -> bool:
    """A name Keras numbered itself (``conv2d_7``): it depends on the session's counters, not the model."""
    from keras.src.utils.naming import to_snake_case  # noqa: PLC0415 - Keras's own auto-name rule

    return re.fullmatch(re.escape(to_snake_case(type(layer).__name__)) + r"(_\d+)?", layer.name) is not None


def _plain(value):
    """A config value in a form both libraries share: lists for tuples, a dtype policy by its name,
    a serialized object by its class name and config."""
    if isinstance(value, dict):
        if "class_name" in value and "config" in value:
            if value["class_name"] in ("DTypePolicy", "FloatDTypePolicy"):
                return value["config"]["name"]
            return {"class_name": value["class_name"], "config": _plain(value["config"])}
        return {key: _plain(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _layer_norm_axis(class_name, cfg):
    """Keras's LayerNormalization turns an int ``axis`` into a list when it builds; gradflow's keeps the int."""
    if class_name == "LayerNormalization" and isinstance(cfg.get("axis"), int):
        cfg["axis"] = [cfg["axis"]]
    for item in cfg.get("layers", []) if isinstance(cfg.get("layers"), list) else []:
        _layer_norm_axis(item["class_name"], item["config"])
    return cfg


def _config_diff(mine, theirs, auto: bool, nested: bool) -> dict:
    ours_cfg = _layer_norm_axis(type(mine).__name__, _plain(mine.get_config()))
    their_cfg = _layer_norm_axis(type(theirs).__name__, _plain(theirs.get_config()))
    if nested:  # Keras's built Sequential lists its InputLayer among its layers; gradflow's does not
        their_cfg["layers"] = [c for c in their_cfg.get("layers", []) if c["class_name"] != "InputLayer"]
    diff = {}
    for key in sorted(set(ours_cfg) | set(their_cfg)):
        if key in CONFIG_KEYS_NOT_COMPARED or (auto and key == "name"):
            continue
        a, b = ours_cfg.get(key, "<absent>"), their_cfg.get(key, "<absent>")
        if a != b:
            diff[key] = (a, b)
    return diff


def _weight_key(w, layer, auto, nested):
    path = w.path
    if nested:  # Keras's path of a nested model's weight starts with the model's name, gradflow's does not
        prefix = f"{layer.name}/"
        path = path[len(prefix):] if path.startswith(prefix) else path
    elif not auto and f"/{layer.name}/" in path:  # Keras's ``name_scope`` (NASNet's blocks) adds scopes first
        path = path[path.index(f"/{layer.name}/") + 1:]
    if auto:  # the layer's own name is the session's counter: compare what follows it
        path = path.split("/", 1)[-1]
    path = re.sub(r"/variable_\d+$", "/variable", path)  # an unnamed weight: Keras numbers it per session
    return path, tuple(int(d) for d in w.shape), bool(w.trainable), str(np.dtype(str(w.dtype)))


def same_architecture_exactly(k, ours, theirs):
    """Layer by layer: classes, names (where Keras chose them), weights (paths, shapes, trainability,
    dtypes, order), configs and output shapes; then the model's shapes and parameter counts."""
    assert ours.name == theirs.name, (ours.name, theirs.name)
    mine = [layer for layer in ours.layers if type(layer).__name__ != "OpLayer"]
    assert [type(a).__name__ for a in mine] == [type(b).__name__ for b in theirs.layers], "layer classes differ"
    for a, b in zip(mine, theirs.layers):
        auto = _auto(k, b)
        assert auto or a.name == b.name, (a.name, b.name)
        nested = isinstance(b, k.Model)
        a_w = [_weight_key(w, a, auto, nested) for w in a.weights]
        b_w = [_weight_key(w, b, auto, nested) for w in b.weights]
        assert a_w == b_w, (b.name, a_w, b_w)
        diff = _config_diff(a, b, auto, nested)
        assert not diff, (b.name, diff)
        if type(b).__name__ != "InputLayer":
            assert _plain(a.output.shape) == _plain(b.output.shape), (b.name, a.output.shape, b.output.shape)
    assert _plain(ours.input_shape) == _plain(theirs.input_shape), (ours.input_shape, theirs.input_shape)
    assert _plain(ours.output_shape) == _plain(theirs.output_shape), (ours.output_shape, theirs.output_shape)
    assert ours.count_params() == theirs.count_params(), (ours.count_params(), theirs.count_params())
    trainable = [sum(int(np.prod(w.shape)) for w in m.trainable_weights) for m in (ours, theirs)]
    assert trainable[0] == trainable[1], trainable


@case("applications", *BIG)
def big_application(k, gf, name):
    with keras_shape_only(k):
        theirs = getattr(k.applications, name)(weights=None)
    with shape_only(gf):
        ours = getattr(gf.applications, name)(weights=None)
    assert all(w.data.strides == (0,) * w.data.ndim for w in ours.weights)  # nothing was allocated
    same_architecture_exactly(k, ours, theirs)

