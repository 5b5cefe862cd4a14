"""Nested structures, as ``keras.tree``: flatten, map, pack and compare lists, tuples, namedtuples, dicts and deques.

Keras's rules (its optree implementation, the reference of its backends): ``None`` is a leaf (unless
``map_structure(none_is_leaf=False)``); a dict's children come in sorted key order (an ``OrderedDict``'s in
insertion order) and a rebuilt dict keeps the original key order; a namedtuple is a node whose children are
its fields; anything else (Tensors, arrays, strings) is a leaf. Pure Python, no optree needed.
"""
from __future__ import annotations

import collections
import warnings

__all__ = ["MAP_TO_NONE", "is_nested", "traverse", "flatten", "flatten_with_path", "map_structure",
           "map_structure_up_to", "assert_same_structure", "assert_same_paths", "pack_sequence_as",
           "lists_to_tuples", "map_shape_structure"]

_MISMATCH = "Structures don't have the same nested structure."


class MAP_TO_NONE:  # noqa: N801 - Keras's name
    """Special value for use with ``traverse()``: a node ``func`` maps to it becomes None."""


def _sorted_keys(d) -> list:
    if isinstance(d, collections.OrderedDict):
        return list(d)
    try:
        return sorted(d)
    except TypeError:  # keys of mixed types: insertion order
        return list(d)


def _node(x, none_is_leaf: bool = True):
    """``(children, keys, rebuild, kind)`` for a node, None for a leaf. ``rebuild(children, sort=False)`` makes
    the same kind of container (a dict in its original key order, or sorted: pack_sequence_as and traverse
    give sorted dicts, as Keras's tree does on its torch backend); ``kind`` is what two structures must share."""
    if x is None:
        return None if none_is_leaf else ([], [], lambda c, sort=False: None, type(None))
    if isinstance(x, tuple) and hasattr(type(x), "_fields"):
        cls = type(x)
        return list(x), list(range(len(x))), lambda c, sort=False: cls(*c), cls
    if isinstance(x, tuple):
        return list(x), list(range(len(x))), lambda c, sort=False: tuple(c), tuple
    if isinstance(x, list):
        return list(x), list(range(len(x))), lambda c, sort=False: list(c), list
    if isinstance(x, dict):
        keys = _sorted_keys(x)
        order = list(x)

        def rebuild(children, sort=False, _x=x, _keys=keys, _order=order):
            values = dict(zip(_keys, children))
            items = [(k, values[k]) for k in (_keys if sort else _order)]
            if isinstance(_x, collections.defaultdict):
                return collections.defaultdict(_x.default_factory, items)
            if isinstance(_x, collections.OrderedDict):
                return collections.OrderedDict(items)
            return type(_x)(items) if type(_x) is not dict else dict(items)

        return [x[k] for k in keys], keys, rebuild, dict
    if isinstance(x, collections.deque):
        maxlen = x.maxlen
        return (list(x), list(range(len(x))), lambda c, sort=False: collections.deque(c, maxlen=maxlen),
                collections.deque)
    return None


def is_nested(structure) -> bool:
    """Whether ``structure`` is a list, tuple, namedtuple, dict or deque (even an empty one)."""
    return _node(structure) is not None


def flatten(structure) -> list:
    """The leaves of ``structure``, depth first (dicts by sorted key); a leaf gives ``[leaf]``."""
    out: list = []

    def walk(x):
        node = _node(x)
        if node is None:
            out.append(x)
        else:
            for c in node[0]:
                walk(c)

    walk(structure)
    return out


def flatten_with_path(structure) -> list:
    """``[(path, leaf), ...]``, ``path`` the tuple of indices and keys from the root to the leaf."""
    out: list = []

    def walk(x, path):
        node = _node(x)
        if node is None:
            out.append((path, x))
        else:
            for k, c in zip(node[1], node[0]):
                walk(c, (*path, k))

    walk(structure, ())
    return out


def _check_match(node, other, other_node) -> None:
    if other_node is None or other_node[3] is not node[3] and not (node[3] is dict and other_node[3] is dict):
        expected = node[3].__name__
        raise ValueError(f"{_MISMATCH} Node type mismatch; expected {expected}, but got {type(other).__name__}.")
    if node[3] is dict and set(node[1]) != set(other_node[1]):
        missing, extra = set(node[1]) - set(other_node[1]), set(other_node[1]) - set(node[1])
        raise ValueError(f"{_MISMATCH} Node keys mismatch; missing key(s): {missing}; extra key(s): {extra}.")
    if len(node[0]) != len(other_node[0]):
        raise ValueError(f"{_MISMATCH} Node arity mismatch; expected {len(node[0])}, but got {len(other_node[0])}.")


def _children_like(node, other, none_is_leaf=True) -> list:
    """``other``'s children in the order of ``node``'s keys (dicts by key, sequences by position)."""
    other_node = _node(other, none_is_leaf)
    _check_match(node, other, other_node)
    if node[3] is dict:
        return [other[k] for k in node[1]]
    return other_node[0]


def map_structure(func, *structures, none_is_leaf=True):
    """``func`` applied to the leaves of ``structures`` (which must share one structure), packed like the first."""
    if not structures:
        raise ValueError("Must provide at least one structure")

    def walk(*xs):
        node = _node(xs[0], none_is_leaf)
        if node is None:
            if any(_node(x, none_is_leaf) is not None for x in xs[1:]):
                raise ValueError(_MISMATCH)
            return func(*xs)
        columns = [node[0]] + [_children_like(node, x, none_is_leaf) for x in xs[1:]]
        return node[2]([walk(*args) for args in zip(*columns)])

    return walk(*structures)


def map_structure_up_to(shallow_structure, func, *structures):
    """Like ``map_structure``, but only down to the leaves of ``shallow_structure``: ``func`` gets the
    (possibly nested) parts of ``structures`` found there."""
    if not structures:
        raise ValueError("Must provide at least one structure")

    def walk(shallow, *xs):
        node = _node(shallow)
        if node is None:
            return func(*xs)
        columns = [_children_like(node, x) for x in xs]
        return node[2]([walk(s, *args) for s, *args in zip(node[0], *columns)])

    return walk(shallow_structure, *structures)


def assert_same_structure(a, b, check_types=None) -> None:
    """Raise ValueError unless ``a`` and ``b`` nest the same way (list, tuple, namedtuple and deque differ;
    the dict kinds match when they hold the same keys). ``check_types`` is deprecated and has no effect."""
    if check_types is not None:
        warnings.warn("The `check_types` argument is deprecated and no longer has any effect"
                      + (", please remove." if check_types else ". For a looser check, use "
                         "`keras.tree.assert_same_paths()`, which considers `list`, `tuple`, `namedtuple` and "
                         "`deque` as matching"), DeprecationWarning, stacklevel=2)
    map_structure(lambda *_: None, a, b)


def assert_same_paths(a, b) -> None:
    """Raise ValueError unless ``a`` and ``b`` have the same set of leaf paths (any container kinds)."""
    a_paths = {path for path, _ in flatten_with_path(a)}
    b_paths = {path for path, _ in flatten_with_path(b)}
    if a_paths != b_paths:
        msg = "`a` and `b` don't have the same paths."
        if a_paths - b_paths:
            msg += f"\nPaths in `a` missing in `b`:\n{a_paths - b_paths}"
        if b_paths - a_paths:
            msg += f"\nPaths in `b` missing in `a`:\n{b_paths - a_paths}"
        raise ValueError(msg)


def pack_sequence_as(structure, flat_sequence):
    """``flat_sequence``'s items packed into ``structure``'s shape (the inverse of ``flatten``)."""
    flat = list(flat_sequence)
    n = len(flatten(structure))
    if len(flat) != n:
        raise ValueError(f"Could not pack sequence: the structure holds {n} leaves but flat_sequence has "
                         f"{len(flat)} items.")
    it = iter(flat)

    def walk(x):
        node = _node(x)
        if node is None:
            return next(it)
        return node[2]([walk(c) for c in node[0]], True)

    return walk(structure)


def traverse(func, structure, top_down=True):
    """Call ``func`` on every node and leaf. Top down: where it returns None the children are traversed,
    otherwise its result replaces the subtree (``MAP_TO_NONE`` gives None). Bottom up: ``func`` sees the
    already traversed children; None keeps the node."""
    def children(x):
        node = _node(x)
        if node is None:
            return x
        return node[2]([traverse(func, c, top_down=top_down) for c in node[0]], True)

    if top_down:
        ret = func(structure)
        if ret is None:
            return children(structure)
    else:
        done = children(structure)
        ret = func(done)
        if ret is None:
            return done
    if ret is MAP_TO_NONE:
        return None
    return ret


def lists_to_tuples(structure):
    """Every list in ``structure`` turned into a tuple."""
    return traverse(lambda x: tuple(x) if isinstance(x, list) else None, structure, top_down=False)


def _is_shape(x) -> bool:
    return isinstance(x, (list, tuple)) and all(isinstance(e, (int, type(None))) for e in x)


def map_shape_structure(func, structure):
    """``func`` on every shape (a list or tuple of ints and Nones) in ``structure``."""
    def walk(x):
        if _is_shape(x):
            return func(x)
        node = _node(x)
        if node is None:
            return func(x)
        return node[2]([walk(c) for c in node[0]])

    return walk(structure)
