"""Differential cases: keras.tree and keras.config/keras.backend helpers against real Keras.

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
