"""Differential cases: keras.tree, keras.config and keras.backend against real Keras.

Loaded by path by tests/keras_coverage.py (``load_cases``), which makes ``keras_coverage`` importable.
The structures keep nested dicts in sorted key order: Keras's torch-backend tree sorts only the outer
dict (its optree implementation, and gradflow, sort every dict)."""
import collections

import numpy as np
from keras_coverage import case

_P = collections.namedtuple("_P", "a b")


def _structure():
    return {"b": [1, (2, None)], "a": _P(3, {"y": 4, "z": 5}), "c": collections.OrderedDict([("q", 6), ("p", 7)]),
            "d": collections.deque([8, 9], maxlen=3), "e": ()}


def _raises(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ValueError:
        return True
    return False


@case("tree", "flatten", "flatten_with_path", "is_nested", "pack_sequence_as", "lists_to_tuples")
def tree_flatten_pack(k, gf):
    s = _structure()
    for fn in ("flatten", "flatten_with_path", "lists_to_tuples"):
        assert getattr(gf.tree, fn)(s) == getattr(k.tree, fn)(s), fn
    for x in (s, 1, "ab", None, [], (), {"a": 1}, _P(1, 2), np.zeros(2)):
        assert gf.tree.is_nested(x) == k.tree.is_nested(x), x
        assert gf.tree.flatten(x) == k.tree.flatten(x) if not isinstance(x, np.ndarray) else True
    flat = list(range(10, 20))
    ours, theirs = gf.tree.pack_sequence_as(s, flat), k.tree.pack_sequence_as(s, flat)
    assert ours == theirs and list(ours) == list(theirs)  # same values and key order
    assert _raises(gf.tree.pack_sequence_as, [1, 2], [1]) and _raises(k.tree.pack_sequence_as, [1, 2], [1])


@case("tree", "map_structure", "map_structure_up_to", "map_shape_structure")
def tree_maps(k, gf):
    s = _structure()
    for mod in (gf, k):
        assert mod.tree.map_structure(lambda x: x, s) == s
    ours = gf.tree.map_structure(lambda x, y: (x, y), s, s)
    assert ours == k.tree.map_structure(lambda x, y: (x, y), s, s)
    assert gf.tree.map_structure(lambda x: x, [None, 1], none_is_leaf=False) == [None, 1]
    for a, b in (([1, [2]], [1, 2]), ({"a": 1}, {"b": 1}), ([1], (1,))):
        assert _raises(gf.tree.map_structure, lambda x, y: x, a, b) == _raises(k.tree.map_structure, lambda x, y: x,
                                                                               a, b), (a, b)
    up = ([1, 2], lambda x: str(x), [[1, 2], {"a": 3}])
    assert gf.tree.map_structure_up_to(*up) == k.tree.map_structure_up_to(*up)
    shapes = {"a": (None, 3), "b": [(2,), (4, 5)], "c": 7}
    assert gf.tree.map_shape_structure(lambda t: len(t) if isinstance(t, tuple) else t, shapes) == \
        k.tree.map_shape_structure(lambda t: len(t) if isinstance(t, tuple) else t, shapes)


@case("tree", "assert_same_structure", "assert_same_paths")
def tree_asserts(k, gf):
    pairs = [([(0, 1)], [(2, 3)]), ([1, 2], (1, 2)), ({"a": 1}, collections.OrderedDict(a=2)), ([1, [2]], [1, 2]),
             (_P(1, 2), (1, 2)), ({"a": [1]}, {"a": [1, 2]})]
    for a, b in pairs:
        for fn in ("assert_same_structure", "assert_same_paths"):
            assert _raises(getattr(gf.tree, fn), a, b) == _raises(getattr(k.tree, fn), a, b), (fn, a, b)


@case("tree", "traverse", "MAP_TO_NONE")
def tree_traverse(k, gf):
    s = [1, [2, {"a": 3}], (4,)]
    for top_down in (True, False):
        def double(x):
            return x * 2 if isinstance(x, int) else None

        assert gf.tree.traverse(double, s, top_down=top_down) == k.tree.traverse(double, s, top_down=top_down)
    assert gf.tree.traverse(lambda x: gf.tree.MAP_TO_NONE if isinstance(x, tuple) else None, s) == \
        k.tree.traverse(lambda x: k.tree.MAP_TO_NONE if isinstance(x, tuple) else None, s)


_DTYPES = [None, "float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64", "uint8", "uint32",
           "bool", int, float, bool, np.dtype("float32"), np.dtype("int64"), np.float64]


@case("backend", "standardize_dtype", "is_float_dtype", "is_int_dtype")
def backend_dtype_names(k, gf):
    for d in _DTYPES:
        for fn in ("standardize_dtype", "is_float_dtype", "is_int_dtype"):
            assert getattr(gf.backend, fn)(d) == getattr(k.backend, fn)(d), (fn, d)
    assert _raises(gf.backend.standardize_dtype, "float8") and _raises(k.backend.standardize_dtype, "float8")


@case("backend", "result_type")
def backend_result_type(k, gf):
    for i, a in enumerate(_DTYPES):
        for b in _DTYPES[i:]:
            try:
                theirs = k.backend.result_type(a, b)
            except ValueError:
                assert _raises(gf.backend.result_type, a, b), (a, b)
                continue
            assert gf.backend.result_type(a, b) == theirs, (a, b)
    assert gf.backend.result_type() == k.backend.result_type()
    assert gf.backend.result_type("int8", "uint8", float) == k.backend.result_type("int8", "uint8", float)


@case("backend", "is_keras_tensor", "get_uid", "clear_session", "epsilon", "floatx", "image_data_format",
      "set_epsilon", "set_floatx", "set_image_data_format", "backend")
def backend_settings(k, gf):
    assert gf.backend.is_keras_tensor(gf.Input((3,))) and k.backend.is_keras_tensor(k.Input((3,)))
    assert not gf.backend.is_keras_tensor(np.zeros(3)) and not k.backend.is_keras_tensor(np.zeros(3))
    for mod in (gf, k):
        mod.backend.clear_session()
    assert [gf.backend.get_uid("p") for _ in range(3)] == [k.backend.get_uid("p") for _ in range(3)]
    for mod in (gf, k):
        mod.backend.clear_session()
    assert gf.backend.get_uid("p") == k.backend.get_uid("p") == 1
    for mod in (gf.backend, k.backend, gf.config, k.config):
        assert (mod.epsilon(), mod.floatx(), mod.image_data_format()) == (1e-7, "float32", "channels_last")
        mod.set_epsilon(1e-5)
        mod.set_image_data_format("channels_first")
        mod.set_floatx("float32")
        assert (mod.epsilon(), mod.image_data_format()) == (1e-5, "channels_first")
        mod.set_epsilon(1e-7)
        mod.set_image_data_format("channels_last")
        assert _raises(mod.set_image_data_format, "nhwc")
    assert isinstance(gf.backend.backend(), str)


@case("config", "epsilon", "floatx", "image_data_format", "set_epsilon", "set_floatx", "set_image_data_format",
      "backend", "set_backend")
def config_backend_settings(k, gf):
    backend_settings(k, gf)
    assert gf.config.backend() == gf.backend.backend() and callable(gf.config.set_backend)


@case("config", "enable_interactive_logging", "disable_interactive_logging", "is_interactive_logging_enabled",
      "enable_traceback_filtering", "disable_traceback_filtering", "is_traceback_filtering_enabled",
      "enable_flash_attention", "disable_flash_attention", "is_flash_attention_enabled", "is_nnx_enabled",
      "max_epochs", "set_max_epochs", "max_steps_per_epoch", "set_max_steps_per_epoch",
      "enable_unsafe_deserialization")
def config_switches(k, gf):
    for mod in (gf.config, k.config):
        assert mod.is_interactive_logging_enabled() is True and mod.is_traceback_filtering_enabled() is True
        assert mod.is_flash_attention_enabled() is None and mod.is_nnx_enabled() is False
        assert mod.max_epochs() is None and mod.max_steps_per_epoch() is None
        for name in ("interactive_logging", "traceback_filtering", "flash_attention"):
            getattr(mod, f"disable_{name}")()
            assert getattr(mod, f"is_{name}_enabled")() is False
            getattr(mod, f"enable_{name}")()
            assert getattr(mod, f"is_{name}_enabled")() is (None if name == "flash_attention" else True)
        mod.set_max_epochs(2)
        mod.set_max_steps_per_epoch(3)
        assert (mod.max_epochs(), mod.max_steps_per_epoch()) == (2, 3)
        mod.set_max_epochs(None)
        mod.set_max_steps_per_epoch(None)
    gf.config.enable_unsafe_deserialization()
