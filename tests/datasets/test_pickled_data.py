"""The pickle-free decoder of the data inside Keras's dataset files: every value pickle can write as plain
data and NumPy arrays decodes to what ``pickle.loads`` gives, in every protocol; anything that could run
code is refused; and no library module imports ``pickle``. (The tests use ``pickle`` only to write
streams.)"""
import io
import pickle
import re
from pathlib import Path

import numpy as np
import pytest

from gradflow.datasets._pickled_data import PickledDataError, decode

PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)


def _same(a, b):
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and a.flags.f_contiguous == b.flags.f_contiguous
        if a.dtype.hasobject:
            for x, y in zip(a.ravel(order="A"), b.ravel(order="A"), strict=True):
                _same(x, y)
        else:
            np.testing.assert_array_equal(a, b)
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b


ragged = np.empty(3, dtype=object)
ragged[:] = [[1, 14, 22, 16], [1, 194], []]
VALUES = [
    None, True, False, 0, 255, 65_535, -1, 2**31, -(2**70), 1.5, float("nan"), -0.0, "héllo", b"\x00\xff" * 200,
    "x" * 300, [1, [2, [3]]], (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), (), {"a": 1, b"b": [1.0]}, {1, 2}, frozenset({3}),
    bytearray(b"ab"),
    np.arange(12, dtype=np.uint8).reshape(3, 4), np.arange(6, dtype=">i4").reshape(2, 3),
    np.asfortranarray(np.arange(6.0).reshape(2, 3)), np.zeros((0, 5), np.float32), np.float32(2.5), np.int64(-7),
    ragged, {b"data": np.arange(3072 * 2, dtype=np.uint8).reshape(2, 3072), b"fine_labels": [3, 99]},
]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_plain_data_and_arrays_decode_as_pickle_loads_them(protocol):
    for value in VALUES:
        blob = pickle.dumps(value, protocol=protocol)
        _same(decode(io.BytesIO(blob)), pickle.loads(blob))


def test_shared_references_and_npy_object_arrays():
    inner = [1, 2]
    value = [inner, inner, {"k": inner}]
    got = decode(io.BytesIO(pickle.dumps(value, protocol=2)))
    assert got == value and got[0] is got[1] is got[2]["k"]
    blob = io.BytesIO()
    np.lib.format.write_array(blob, ragged, allow_pickle=True)
    blob.seek(0)
    np.lib.format.read_magic(blob)
    np.lib.format.read_array_header_1_0(blob)
    _same(decode(blob, encoding="latin1"), ragged)


def test_python2_strings_follow_the_encoding():
    # what Python 2's cPickle wrote for {'data': 'ab'} (SHORT_BINSTRING keys and values), protocol 2
    blob = b"\x80\x02}q\x00U\x04dataq\x01U\x02abq\x02s."
    assert decode(io.BytesIO(blob), encoding="bytes") == {b"data": b"ab"}
    assert decode(io.BytesIO(blob), encoding="latin1") == {"data": "ab"}
    assert decode(io.BytesIO(b"(dp0\nS'data'\np1\nI7\ns."), encoding="bytes") == {b"data": 7}


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


class _Plain:
    pass


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_anything_that_could_run_code_is_refused(protocol, capsys):
    for value in (_Evil(), [1, _Evil()], _Plain(), np.array([_Evil()], dtype=object), print):
        with pytest.raises(PickledDataError, match="refusing"):
            decode(io.BytesIO(pickle.dumps(value, protocol=protocol)))
    assert "pwned" not in capsys.readouterr().out


@pytest.mark.parametrize("blob", [b"", b"\x80\x02]q\x00", b"\x80\x02K", b"\x80\x02e.", b"\x80\x02h\x05.",
                                  b"\x80\x02K\x01K\x02.", b"\x80\x09N.", b"\x80\x02X\x05\x00\x00\x00ab"])
def test_truncated_or_malformed_streams_raise_a_clear_error(blob):
    with pytest.raises(PickledDataError):
        decode(io.BytesIO(blob))


def test_a_wrong_sized_array_is_refused():
    blob = pickle.dumps(np.arange(4, dtype=np.int32), protocol=3)
    raw = np.arange(4, dtype=np.int32).tobytes()
    with pytest.raises(PickledDataError, match="needs 16 bytes"):
        decode(io.BytesIO(blob.replace(b"C\x10" + raw, b"C\x0c" + raw[:12])))


def test_no_library_module_imports_pickle():
    root = Path(__file__).resolve().parents[2]
    offenders = [str(p.relative_to(root)) for base in ("gradflow", "kernels") for p in (root / base).rglob("*.py")
                 if re.search(r"^\s*(import pickle|from pickle import|import cPickle)", p.read_text(), re.M)]
    assert offenders == []
