"""gradflow.tree (keras.tree's rules, without optree): values against Keras are in tests/keras_cases/tree.py."""
import collections

import numpy as np
import pytest

import gradflow as gf
from gradflow import tree

Point = collections.namedtuple("Point", "x y")


def test_flatten_orders_dicts_by_key_and_keeps_none():
    s = {"b": [1, None], "a": Point(2, {"z": 3, "y": 4})}
    assert tree.flatten(s) == [2, 4, 3, 1, None]
    assert tree.flatten_with_path(s)[1] == (("a", 1, "y"), 4)
    assert tree.flatten(gf.Tensor(np.ones(2)))[0].shape == (2,)


def test_map_and_pack_roundtrip():
    s = {"b": [1, (2, 3)], "a": Point(4, 5), "c": collections.deque([6], maxlen=2)}
    doubled = tree.map_structure(lambda v: v * 2, s)
    assert list(doubled) == ["b", "a", "c"] and doubled["a"] == Point(8, 10) and doubled["c"].maxlen == 2
    assert tree.pack_sequence_as(s, tree.flatten(doubled)) == doubled
    assert tree.map_structure(lambda a, b: a + b, [1, (2,)], [10, (20,)]) == [11, (22,)]
    with pytest.raises(ValueError):
        tree.map_structure(lambda a, b: a, [1, 2], (1, 2))
    with pytest.raises(ValueError):
        tree.pack_sequence_as([1, 2], [1])


def test_asserts_traverse_and_shapes():
    tree.assert_same_structure({"a": 1}, collections.OrderedDict(a=[2][0]))
    with pytest.raises(ValueError):
        tree.assert_same_structure([1, [2]], [1, 2])
    tree.assert_same_paths([1, (2,)], (3, [4]))
    assert tree.traverse(lambda v: tree.MAP_TO_NONE if v == 2 else None, [1, 2]) == [1, None]
    assert tree.lists_to_tuples([1, [2]]) == (1, (2,))
    assert tree.map_shape_structure(lambda t: t, {"a": (None, 3)}) == {"a": (None, 3)}
    assert tree.map_structure_up_to([0, 0], len, [[1, 2], {"a": 3}]) == [2, 1]
    assert tree.is_nested(()) and not tree.is_nested("abc")
