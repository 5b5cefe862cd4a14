"""A decoder for the data inside the pickle streams of Keras's dataset files, without ``pickle``.

Two of Keras's published data files hold pickle streams: the object arrays (ragged word-index
sequences) inside ``imdb.npz`` and ``reuters.npz``, and the ``train``/``test`` batches of
``cifar-100-python.tar.gz``. gradflow never runs the ``pickle`` module on a file. This module reads the
pickle *format* as data: it walks the opcodes itself and can build only plain values (None, booleans,
numbers, strings, bytes, lists, tuples, dicts, sets) and NumPy arrays, dtypes and scalars. Every
instruction that could call arbitrary code (a global other than NumPy's array reconstructors, object
instantiation, persistent ids, extension codes, out-of-band buffers) is refused with a
:class:`PickledDataError`, so a tampered file cannot run anything.
"""
from __future__ import annotations

import struct
from typing import Any, BinaryIO

import numpy as np

__all__ = ["PickledDataError", "decode"]


class PickledDataError(ValueError):
    """The stream is not a pickle of plain data and NumPy arrays (or is truncated or malformed)."""


class _Global:
    """One of the few callables a data pickle may name; applied by REDUCE without importing anything."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self):
        return f"<{self.name}>"


class _ArrayShell:
    """An ndarray between ``_reconstruct`` (REDUCE) and its state (BUILD)."""

    array: np.ndarray | None = None


class _DtypeShell:
    """A dtype between ``dtype(...)`` (REDUCE) and its state (BUILD, which sets the byte order)."""

    def __init__(self, spec: str):
        try:
            self.dtype = np.dtype(spec)
        except TypeError:
            raise PickledDataError(f"unknown dtype {spec!r}") from None


_RECONSTRUCT = ("numpy.core.multiarray", "numpy._core.multiarray")
_GLOBALS = {
    **{(m, "_reconstruct"): "reconstruct" for m in _RECONSTRUCT},
    **{(m, "scalar"): "scalar" for m in _RECONSTRUCT},
    **{(m, "_frombuffer"): "frombuffer" for m in ("numpy.core.numeric", "numpy._core.numeric")},
    ("numpy", "ndarray"): "ndarray",
    ("numpy", "dtype"): "dtype",
    ("_codecs", "encode"): "encode",
    ("__builtin__", "set"): "set", ("builtins", "set"): "set",
    ("__builtin__", "frozenset"): "frozenset", ("builtins", "frozenset"): "frozenset",
    ("__builtin__", "bytearray"): "bytearray", ("builtins", "bytearray"): "bytearray",
    ("__builtin__", "bytes"): "bytes", ("builtins", "bytes"): "bytes",
}
_MARK = object()


def _dtype(value) -> np.dtype:
    if isinstance(value, _DtypeShell):
        return value.dtype
    if isinstance(value, np.dtype):
        return value
    raise PickledDataError(f"expected a dtype, got {type(value).__name__}")


def _reduce(func, args):
    if not isinstance(func, _Global) or not isinstance(args, tuple):
        raise PickledDataError(f"refusing to call {func!r}: only NumPy's array reconstructors are allowed")
    kind = func.name
    if kind == "reconstruct":
        return _ArrayShell()
    if kind == "frombuffer":  # protocol 5's in-band arrays: (buffer, dtype, shape, order)
        if len(args) != 4:
            raise PickledDataError(f"bad array arguments {args!r}")
        shell = _ArrayShell()
        _build(shell, (1, args[2], args[1], args[3] == "F", args[0]), keep_byte_order=True)
        return shell
    if kind == "dtype":
        if not args or not isinstance(args[0], str):
            raise PickledDataError(f"bad dtype arguments {args!r}")
        return _DtypeShell(args[0])
    if kind == "scalar":
        if len(args) != 2:
            raise PickledDataError(f"bad scalar arguments {args!r}")
        dtype = _dtype(args[0])
        raw = args[1].encode("latin1") if isinstance(args[1], str) else args[1]
        if dtype.hasobject or not isinstance(raw, bytes) or len(raw) != dtype.itemsize:
            raise PickledDataError(f"bad scalar data for {dtype}")
        return np.frombuffer(raw, dtype=dtype)[0]
    if kind == "encode":
        if len(args) != 2 or not isinstance(args[0], str) or args[1] != "latin1":
            raise PickledDataError(f"bad bytes arguments {args!r}")
        return args[0].encode("latin1")
    if kind == "bytes":  # what protocols 0-2 write for b"" (other bytes go through _codecs.encode)
        if args not in ((), ((),), ([],)):
            raise PickledDataError(f"bad bytes arguments {args!r}")
        return b""
    if kind == "bytearray":
        if args and isinstance(args[0], str):
            return bytearray(args[0].encode(args[1] if len(args) > 1 else "latin1"))
        if not args or isinstance(args[0], bytes):
            return bytearray(*args[:1])
        raise PickledDataError(f"bad bytearray arguments {args!r}")
    if kind in ("set", "frozenset"):
        items = args[0] if args else ()
        if not isinstance(items, list | tuple):
            raise PickledDataError(f"bad {kind} arguments")
        return set(items) if kind == "set" else frozenset(items)
    raise PickledDataError(f"refusing to call {func!r}")


def _build(target, state, keep_byte_order: bool = False):
    if isinstance(target, _DtypeShell):
        if not isinstance(state, tuple) or len(state) < 2:
            raise PickledDataError(f"bad dtype state {state!r}")
        if len(state) > 3 and state[3] is not None:
            raise PickledDataError("structured dtypes are not allowed in a dataset file")
        order = state[1]
        if order in ("<", ">"):
            target.dtype = target.dtype.newbyteorder(order)
        return target
    if isinstance(target, _ArrayShell):
        if not isinstance(state, tuple) or len(state) != 5:
            raise PickledDataError(f"bad array state of {len(state) if isinstance(state, tuple) else state!r}")
        _, shape, dtype, fortran, data = state
        dtype = _dtype(dtype)
        if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise PickledDataError(f"bad array shape {shape!r}")
        count = int(np.prod(shape, dtype=np.int64))
        order = "F" if fortran else "C"
        if dtype.hasobject:
            if not isinstance(data, list) or len(data) != count:
                raise PickledDataError(f"object array of shape {shape} needs {count} items")
            out = np.empty(count, dtype=object)
            out[:] = data
            target.array = out.reshape(shape, order=order)
        else:
            raw = data.encode("latin1") if isinstance(data, str) else data
            if not isinstance(raw, bytes | bytearray) or len(raw) != count * dtype.itemsize:
                raise PickledDataError(f"array of shape {shape} and dtype {dtype} needs {count * dtype.itemsize} "
                                       f"bytes")
            # NumPy's own unpickling gives native byte order in every protocol before 5
            final = dtype if keep_byte_order else dtype.newbyteorder("=")
            target.array = np.frombuffer(raw, dtype=dtype).reshape(shape, order=order).astype(final, order=order)
        return target
    if isinstance(target, dict) and isinstance(state, dict):
        raise PickledDataError("refusing to set attributes on a plain dict")
    raise PickledDataError(f"refusing to set state on {type(target).__name__}")


def _finish(value, seen: dict[int, Any]):
    """Replace the shells by what they built (arrays and dtypes), through containers, in place, so that
    objects the stream shares stay shared."""
    key = id(value)
    if key in seen:
        return seen[key]
    if isinstance(value, _ArrayShell):
        if value.array is None:
            raise PickledDataError("an array was never given its data")
        arr = seen[key] = value.array
        if arr.dtype.hasobject:
            flat = arr.reshape(-1, order="A")
            for i in range(flat.size):
                flat[i] = _finish(flat[i], seen)
        return arr
    if isinstance(value, _DtypeShell):
        return value.dtype
    if isinstance(value, list):
        seen[key] = value
        value[:] = [_finish(v, seen) for v in value]
    elif isinstance(value, dict):
        seen[key] = value
        items = [(_finish(k, seen), _finish(v, seen)) for k, v in value.items()]
        value.clear()
        value.update(items)
    elif isinstance(value, tuple):
        value = seen[key] = tuple(_finish(v, seen) for v in value)
    return value


class _Reader:
    def __init__(self, fh: BinaryIO, encoding: str):
        self.fh = fh
        self.encoding = encoding

    def take(self, n: int) -> bytes:
        data = self.fh.read(n)
        if len(data) != n:
            raise PickledDataError("truncated pickle stream")
        return data

    def line(self) -> bytes:
        data = self.fh.readline()
        if not data.endswith(b"\n"):
            raise PickledDataError("truncated pickle stream")
        return data[:-1]

    def unpack(self, fmt: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def py2_string(self, raw: bytes):
        """A Python 2 ``str``: bytes under ``encoding='bytes'``, else decoded."""
        return raw if self.encoding == "bytes" else raw.decode(self.encoding)


def _text_string(raw: bytes) -> bytes:
    if len(raw) < 2 or raw[0] != raw[-1] or raw[:1] not in (b"'", b'"'):
        raise PickledDataError("bad STRING opcode")
    return raw[1:-1].decode("unicode_escape").encode("latin1")


def decode(fh: BinaryIO, encoding: str = "ASCII") -> Any:
    """The value pickled in ``fh`` (read up to its STOP opcode), built from plain data and NumPy arrays
    only. ``encoding`` decodes Python 2 strings as ``pickle.load`` does (``"bytes"`` keeps them bytes)."""
    try:
        return _decode(_Reader(fh, encoding))
    except PickledDataError:
        raise
    except (IndexError, KeyError, TypeError, ValueError, struct.error, UnicodeError) as exc:
        raise PickledDataError(f"malformed pickle stream ({type(exc).__name__}: {exc})") from None


def _decode(r: _Reader) -> Any:
    stack: list = []
    marks: list[int] = []
    memo: dict[int, Any] = {}

    def pop_mark() -> list:
        if not marks:
            raise PickledDataError("unbalanced MARK")
        at = marks.pop()
        items = stack[at:]
        del stack[at:]
        return items

    def top():
        if not stack:
            raise PickledDataError("stack underflow")
        return stack[-1]

    def top_as(kind: type, opname: str):
        target = top()
        if not isinstance(target, kind):
            raise PickledDataError(f"{opname} on a {type(target).__name__}, not a {kind.__name__}")
        return target

    while True:
        op = r.take(1)
        if op == b".":  # STOP
            if len(stack) != 1:
                raise PickledDataError("malformed stream at STOP")
            return _finish(stack.pop(), {})
        if op == b"\x80":  # PROTO
            if r.take(1)[0] > 5:
                raise PickledDataError("unsupported pickle protocol")
        elif op == b"\x95":  # FRAME
            r.take(8)
        elif op == b"(":
            marks.append(len(stack))
        elif op == b"N":
            stack.append(None)
        elif op == b"\x88":
            stack.append(True)
        elif op == b"\x89":
            stack.append(False)
        elif op == b"K":
            stack.append(r.take(1)[0])
        elif op == b"M":
            stack.append(r.unpack("<H"))
        elif op == b"J":
            stack.append(r.unpack("<i"))
        elif op == b"\x8a":  # LONG1
            stack.append(int.from_bytes(r.take(r.take(1)[0]), "little", signed=True))
        elif op == b"\x8b":  # LONG4
            stack.append(int.from_bytes(r.take(r.unpack("<i")), "little", signed=True))
        elif op == b"I":
            text = r.line()
            stack.append({b"00": False, b"01": True}[text] if text in (b"00", b"01") else int(text))
        elif op == b"L":
            stack.append(int(r.line().rstrip(b"L")))
        elif op == b"G":
            stack.append(r.unpack(">d"))
        elif op == b"F":
            stack.append(float(r.line()))
        elif op in (b"U", b"T", b"S"):  # Python 2 str
            if op == b"S":
                raw = _text_string(r.line())
            else:
                raw = r.take(r.take(1)[0] if op == b"U" else r.unpack("<i"))
            stack.append(r.py2_string(raw))
        elif op in (b"C", b"B", b"\x8e", b"\x96"):  # bytes, bytearray
            size = {b"C": lambda: r.take(1)[0], b"B": lambda: r.unpack("<I")}.get(op, lambda: r.unpack("<Q"))()
            raw = r.take(size)
            stack.append(bytearray(raw) if op == b"\x96" else raw)
        elif op in (b"\x8c", b"X", b"\x8d"):  # str
            size = {b"\x8c": lambda: r.take(1)[0], b"X": lambda: r.unpack("<I")}.get(op, lambda: r.unpack("<Q"))()
            stack.append(r.take(size).decode("utf-8", "surrogatepass"))
        elif op == b"V":
            stack.append(r.line().decode("raw_unicode_escape"))
        elif op == b"]":
            stack.append([])
        elif op == b"}":
            stack.append({})
        elif op == b")":
            stack.append(())
        elif op == b"\x8f":
            stack.append(set())
        elif op == b"l":
            stack.append(pop_mark())
        elif op == b"t":
            stack.append(tuple(pop_mark()))
        elif op in (b"\x85", b"\x86", b"\x87"):
            n = op[0] - 0x84
            if len(stack) < n:
                raise PickledDataError("stack underflow")
            items = tuple(stack[len(stack) - n:])
            del stack[len(stack) - n:]
            stack.append(items)
        elif op == b"d":
            items = pop_mark()
            stack.append(dict(zip(items[::2], items[1::2], strict=True)))
        elif op == b"\x91":
            stack.append(frozenset(pop_mark()))
        elif op == b"a":
            value = stack.pop()
            top_as(list, "APPEND").append(value)
        elif op == b"e":
            items = pop_mark()
            top_as(list, "APPENDS").extend(items)
        elif op == b"\x90":
            items = pop_mark()
            top_as(set, "ADDITEMS").update(items)
        elif op == b"s":
            value, key = stack.pop(), stack.pop()
            top_as(dict, "SETITEM")[key] = value
        elif op == b"u":
            items = pop_mark()
            top_as(dict, "SETITEMS").update(zip(items[::2], items[1::2], strict=True))
        elif op == b"0":
            stack.pop()
        elif op == b"1":
            pop_mark()
        elif op == b"2":
            stack.append(top())
        elif op in (b"p", b"q", b"r", b"\x94"):  # PUT, BINPUT, LONG_BINPUT, MEMOIZE
            key = {b"p": lambda: int(r.line()), b"q": lambda: r.take(1)[0],
                   b"r": lambda: r.unpack("<I"), b"\x94": lambda: len(memo)}[op]()
            memo[key] = top()
        elif op in (b"g", b"h", b"j"):
            key = {b"g": lambda: int(r.line()), b"h": lambda: r.take(1)[0], b"j": lambda: r.unpack("<I")}[op]()
            if key not in memo:
                raise PickledDataError(f"memo key {key} used before it was set")
            stack.append(memo[key])
        elif op in (b"c", b"\x93"):  # GLOBAL, STACK_GLOBAL
            if op == b"c":
                module, name = r.line().decode("ascii"), r.line().decode("ascii")
            else:
                name, module = stack.pop(), stack.pop()
            kind = _GLOBALS.get((module, name))
            if kind is None:
                raise PickledDataError(f"refusing to load {module}.{name} from a dataset file (only NumPy arrays, "
                                       f"lists, numbers, strings and dicts are allowed)")
            stack.append(_Global(kind))
        elif op == b"R":
            args, func = stack.pop(), stack.pop()
            stack.append(_reduce(func, args))
        elif op == b"b":
            state = stack.pop()
            _build(top(), state)
        else:
            raise PickledDataError(f"refusing pickle opcode {op!r} (it could run code or is not plain data)")
