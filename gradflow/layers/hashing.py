"""Hashing and HashedCrossing (Keras 3) on NumPy, with TensorFlow's hash functions so the bins match.

Keras (through TensorFlow) bins a value by ``Fingerprint64(str(value)) % num_bins`` (FarmHash's
``Fingerprint64``, ``tf.strings.to_hash_bucket_fast``) or, with a ``salt``, by keyed SipHash-2-4
(``to_hash_bucket_strong``). HashedCrossing combines the values of a row with ``FingerprintCat64``
(``tf.sparse.cross_hashed``). The hashes are written here in Python from their public definitions;
each distinct value is hashed once per call.
"""
from __future__ import annotations

import numpy as np

from ._args import describe
from ._data_layer import DataLayer, as_output, encode_categorical, host_array, string_array

__all__ = ["Hashing", "HashedCrossing", "fingerprint64", "siphash24", "hash_buckets"]

_M = (1 << 64) - 1
_K0, _K1, _K2 = 0xC3A5C85C97CB3127, 0xB492B66FBE98F273, 0x9AE16A3B2F90404F
_KMUL = 0x9DDFEA08EB382D69


def _rot(v: int, s: int) -> int:
    return ((v >> s) | (v << (64 - s))) & _M if s else v


def _mix(v: int) -> int:
    return v ^ (v >> 47)


def _u64(s: bytes, i: int) -> int:
    return int.from_bytes(s[i:i + 8], "little")


def _u32(s: bytes, i: int) -> int:
    return int.from_bytes(s[i:i + 4], "little")


def _len16(u: int, v: int, mul: int = _KMUL) -> int:
    a = ((u ^ v) * mul) & _M
    a ^= a >> 47
    b = ((v ^ a) * mul) & _M
    b ^= b >> 47
    return (b * mul) & _M


def _len0to16(s: bytes, n: int) -> int:
    if n >= 8:
        mul = _K2 + n * 2
        a = (_u64(s, 0) + _K2) & _M
        b = _u64(s, n - 8)
        c = (_rot(b, 37) * mul + a) & _M
        d = ((_rot(a, 25) + b) * mul) & _M
        return _len16(c, d, mul)
    if n >= 4:
        mul = _K2 + n * 2
        a = _u32(s, 0)
        return _len16((n + (a << 3)) & _M, _u32(s, n - 4), mul)
    if n > 0:
        y = s[0] + (s[n >> 1] << 8)
        z = n + (s[n - 1] << 2)
        return (_mix(((y * _K2) ^ (z * _K0)) & _M) * _K2) & _M
    return _K2


def _len17to32(s: bytes, n: int) -> int:
    mul = _K2 + n * 2
    a = (_u64(s, 0) * _K1) & _M
    b = _u64(s, 8)
    c = (_u64(s, n - 8) * mul) & _M
    d = (_u64(s, n - 16) * _K2) & _M
    return _len16((_rot((a + b) & _M, 43) + _rot(c, 30) + d) & _M,
                  (a + _rot((b + _K2) & _M, 18) + c) & _M, mul)


def _len33to64(s: bytes, n: int) -> int:
    mul = _K2 + n * 2
    a = (_u64(s, 0) * _K2) & _M
    b = _u64(s, 8)
    c = (_u64(s, n - 8) * mul) & _M
    d = (_u64(s, n - 16) * _K2) & _M
    y = (_rot((a + b) & _M, 43) + _rot(c, 30) + d) & _M
    z = _len16(y, (a + _rot((b + _K2) & _M, 18) + c) & _M, mul)
    e = (_u64(s, 16) * mul) & _M
    f = _u64(s, 24)
    g = ((y + _u64(s, n - 32)) * mul) & _M
    h = ((z + _u64(s, n - 24)) * mul) & _M
    return _len16((_rot((e + f) & _M, 43) + _rot(g, 30) + h) & _M,
                  (e + _rot((f + a) & _M, 18) + g) & _M, mul)


def _weak32(s: bytes, i: int, a: int, b: int) -> tuple[int, int]:
    w, x, y, z = _u64(s, i), _u64(s, i + 8), _u64(s, i + 16), _u64(s, i + 24)
    a = (a + w) & _M
    b = _rot((b + a + z) & _M, 21)
    c = a
    a = (a + x + y) & _M
    b = (b + _rot(a, 44)) & _M
    return (a + z) & _M, (b + c) & _M


def fingerprint64(data: bytes) -> int:
    """FarmHash's ``Fingerprint64`` (``farmhashna::Hash64``) of ``data``, as an unsigned 64-bit int."""
    s, n = bytes(data), len(data)
    if n <= 16:
        return _len0to16(s, n)
    if n <= 32:
        return _len17to32(s, n)
    if n <= 64:
        return _len33to64(s, n)
    seed = 81
    x = seed
    y = (seed * _K1 + 113) & _M
    z = (_mix((y * _K2 + 113) & _M) * _K2) & _M
    v = (0, 0)
    w = (0, 0)
    x = (x * _K2 + _u64(s, 0)) & _M
    end = ((n - 1) // 64) * 64
    last64 = end + ((n - 1) & 63) - 63
    i = 0
    while True:
        x = (_rot((x + y + v[0] + _u64(s, i + 8)) & _M, 37) * _K1) & _M
        y = (_rot((y + v[1] + _u64(s, i + 48)) & _M, 42) * _K1) & _M
        x ^= w[1]
        y = (y + v[0] + _u64(s, i + 40)) & _M
        z = (_rot((z + w[0]) & _M, 33) * _K1) & _M
        v = _weak32(s, i, (v[1] * _K1) & _M, (x + w[0]) & _M)
        w = _weak32(s, i + 32, (z + w[1]) & _M, (y + _u64(s, i + 16)) & _M)
        z, x = x, z
        i += 64
        if i == end:
            break
    mul = _K1 + ((z & 0xFF) << 1)
    i = last64
    w = ((w[0] + ((n - 1) & 63)) & _M, w[1])
    v = ((v[0] + w[0]) & _M, v[1])
    w = ((w[0] + v[0]) & _M, w[1])
    x = (_rot((x + y + v[0] + _u64(s, i + 8)) & _M, 37) * mul) & _M
    y = (_rot((y + v[1] + _u64(s, i + 48)) & _M, 42) * mul) & _M
    x ^= (w[1] * 9) & _M
    y = (y + v[0] * 9 + _u64(s, i + 40)) & _M
    z = (_rot((z + w[0]) & _M, 33) * mul) & _M
    v = _weak32(s, i, (v[1] * mul) & _M, (x + w[0]) & _M)
    w = _weak32(s, i + 32, (z + w[1]) & _M, (y + _u64(s, i + 16)) & _M)
    z, x = x, z
    return _len16((_len16(v[0], w[0], mul) + _mix(y) * _K0 + z) & _M,
                  (_len16(v[1], w[1], mul) + x) & _M, mul)


def _rotl(v: int, s: int) -> int:
    return ((v << s) | (v >> (64 - s))) & _M


def siphash24(key: tuple[int, int], data: bytes) -> int:
    """SipHash-2-4 of ``data`` under the 128-bit ``key`` (two 64-bit halves), as TensorFlow's
    ``StrongKeyedHash``."""
    k0, k1 = key[0] & _M, key[1] & _M
    v0, v1 = k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D
    v2, v3 = k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573

    def rounds(count, v0, v1, v2, v3):
        for _ in range(count):
            v0 = (v0 + v1) & _M
            v1 = _rotl(v1, 13) ^ v0
            v0 = _rotl(v0, 32)
            v2 = (v2 + v3) & _M
            v3 = _rotl(v3, 16) ^ v2
            v0 = (v0 + v3) & _M
            v3 = _rotl(v3, 21) ^ v0
            v2 = (v2 + v1) & _M
            v1 = _rotl(v1, 17) ^ v2
            v2 = _rotl(v2, 32)
        return v0, v1, v2, v3

    n = len(data)
    full = n - n % 8
    for i in range(0, full, 8):
        m = _u64(data, i)
        v3 ^= m
        v0, v1, v2, v3 = rounds(2, v0, v1, v2, v3)
        v0 ^= m
    last = ((n & 0xFF) << 56) | int.from_bytes(data[full:], "little")
    v3 ^= last
    v0, v1, v2, v3 = rounds(2, v0, v1, v2, v3)
    v0 ^= last
    v2 ^= 0xFF
    v0, v1, v2, v3 = rounds(4, v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


def _as_strings(values: np.ndarray) -> np.ndarray:
    """Values as TensorFlow's ``as_string`` writes them (floats are first cast to int64, as Keras does)."""
    if values.dtype.kind == "f":
        values = values.astype(np.int64)
    if values.dtype.kind == "b":
        values = values.astype(np.int64)
    return values


def _encode(value, encoding: str = "utf-8") -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bool, np.bool_)):
        value = int(value)
    return str(value).encode(encoding)


def hash_buckets(values, num_buckets: int, salt=None) -> np.ndarray:
    """``tf.strings.to_hash_bucket_fast`` (or ``_strong`` with a 2-int ``salt``) of ``values`` (strings, or
    numbers as their decimal strings): int64 bucket indices of ``values``'s shape."""
    arr = _as_strings(host_array(values))
    flat = arr.ravel()
    uniq, inverse = np.unique(flat, return_inverse=True) if flat.size else (flat, np.zeros(0, np.int64))
    if salt is None:
        hashed = [fingerprint64(_encode(u)) % num_buckets for u in uniq.tolist()]
    else:
        key = (int(salt[0]), int(salt[1]))
        hashed = [siphash24(key, _encode(u)) % num_buckets for u in uniq.tolist()]
    table = np.array(hashed, dtype=np.int64)
    return table[inverse.ravel()].reshape(arr.shape) if flat.size else np.zeros(arr.shape, np.int64)


def _salt(layer, salt, cls="Hashing"):
    if salt is None:
        return None
    if isinstance(salt, (tuple, list)) and len(salt) == 2:
        return [int(s) for s in salt]
    if isinstance(salt, (int, np.integer)) and not isinstance(salt, bool):
        return [int(salt), int(salt)]
    raise ValueError(f"The `salt` argument for `{cls}` can only be a tuple of size 2 integers, or a single "
                     f"integer. Received: salt={salt}.")


class Hashing(DataLayer):
    """Hash values (strings or numbers) into ``num_bins`` bins, TensorFlow's way (Keras 3).

    ``mask_value`` maps to bin 0 and the others to ``1..num_bins-1``; a ``salt`` switches to keyed
    SipHash. ``output_mode`` ``int`` (int64 by default), ``one_hot``, ``multi_hot`` or ``count``.
    """

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False, **kwargs):
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = "int64" if output_mode == "int" else self.floatx()
        super().__init__(**kwargs)
        if num_bins is None or num_bins <= 0:
            raise ValueError(f"The `num_bins` for `Hashing` cannot be `None` or non-positive values. "
                             f"Received: num_bins={num_bins}.")
        if output_mode == "int" and self.dtype.name not in ("int32", "int64"):
            raise ValueError(f"When `output_mode=\"int\"`, `dtype` should be an integer type, 'int32' or 'in64'. "
                             f"Received: dtype={kwargs['dtype']}")
        accepted = ("int", "one_hot", "multi_hot", "count")
        if output_mode not in accepted:
            raise ValueError(f"Invalid value for argument `output_mode`. Expected one of {accepted}. "
                             f"Received: output_mode={output_mode}")
        if sparse:
            raise ValueError(f"{describe(self)}: sparse=True is not supported by gradflow (its outputs are dense "
                             f"Tensors); pass sparse=False")
        self.num_bins = int(num_bins)
        self.mask_value = mask_value
        self.strong_hash = salt is not None
        self.output_mode = output_mode
        self.sparse = False
        self.salt = _salt(self, salt)

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        if len(input_shape) == 0:
            return (self.num_bins,)
        return tuple(input_shape[:-1]) + (self.num_bins,)

    def _hash_values_to_bins(self, values: np.ndarray) -> np.ndarray:
        bins = self.num_bins
        mask = None
        if self.mask_value is not None and bins > 1:
            bins -= 1
            mask = values == self.mask_value
        out = hash_buckets(values, bins, self.salt)
        if mask is not None:
            out = np.where(mask, 0, out + 1)
        return out

    def call(self, inputs):
        x = host_array(inputs)
        if x.dtype.kind in "SO":
            x = string_array(x)
        if self.output_mode == "one_hot" and x.ndim and x.shape[-1] == 1:
            x = x[..., 0]
        indices = self._hash_values_to_bins(x)
        return as_output(encode_categorical(indices, self.output_mode, self.num_bins, self.dtype))

    def get_config(self) -> dict:
        return {**super().get_config(), "num_bins": self.num_bins, "salt": self.salt, "mask_value": self.mask_value,
                "output_mode": self.output_mode, "sparse": self.sparse}


#: ``tf.sparse.cross_hashed``'s default key
_CROSS_KEY = 0xDECAFCAFFE


def _cat64(fp1: int, fp2: int) -> int:
    """TensorFlow's ``FingerprintCat64``."""
    mul = 0xC6A4A7935BD1E995
    result = fp1 ^ mul
    result ^= (_mix((fp2 * mul) & _M) * mul) & _M
    result = (result * mul) & _M
    result = (_mix(result) * mul) & _M
    return _mix(result)


def _column_hashes(col: np.ndarray) -> list:
    """Each value's 64-bit feature hash as ``cross_hashed`` takes it: strings fingerprinted, integers as is."""
    if col.dtype.kind in "USO":
        return [fingerprint64(_encode(v)) for v in col.tolist()]
    return [int(v) & _M for v in col.astype(np.int64).tolist()]


class HashedCrossing(DataLayer):
    """Cross two or more categorical features (integers or strings) by hashing each row's combination into
    ``num_bins`` bins, as ``tf.sparse.cross_hashed`` does (Keras 3). ``output_mode`` ``int`` or ``one_hot``."""

    def __init__(self, num_bins, output_mode="int", sparse=False, name=None, dtype=None, **kwargs):
        if output_mode == "int" and dtype is None:
            dtype = "int64"
        super().__init__(name=name, dtype=dtype, **kwargs)
        if sparse:
            raise ValueError(f"{describe(self)}: sparse=True is not supported by gradflow (its outputs are dense "
                             f"Tensors); pass sparse=False")
        if output_mode not in ("int", "one_hot"):
            raise ValueError(f"The `output_mode` argument value of the HashedCrossing layer must be one of "
                             f"('int', 'one_hot'). Received: output_mode={output_mode!r}")
        self.num_bins = int(num_bins)
        self.output_mode = output_mode
        self.sparse = False

    def _wrap_inputs(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"`HashedCrossing` should be called on a list or tuple of inputs. Received: "
                             f"inputs={inputs}")
        return [super(HashedCrossing, self)._wrap_inputs(x) for x in inputs]

    def compute_output_shape(self, input_shape):
        # (Keras's symbolic rule takes exactly 2 inputs; its call, and gradflow, take 2 or more)
        if len(input_shape) < 2 or not all(isinstance(s, tuple) for s in input_shape):
            raise ValueError(f"Expected as input a list/tuple of 2 tensors. Received input_shape={input_shape}")
        if any(s[-1:] != input_shape[0][-1:] for s in input_shape[1:]):
            raise ValueError(f"Expected the two input tensors to have identical shapes. Received "
                             f"input_shape={input_shape}")
        if self.output_mode == "int":
            return tuple(input_shape[0])
        if input_shape[0] and input_shape[0][-1] != 1:
            return tuple(input_shape[0]) + (self.num_bins,)
        return tuple(input_shape[0])[:-1] + (self.num_bins,)

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError(f"`HashedCrossing` should be called on at least two inputs. Received: inputs={inputs}")
        cols = [host_array(x) for x in inputs]
        shape = cols[0].shape
        if len(shape) > 2 or (len(shape) == 2 and shape[-1] != 1):
            raise ValueError(f"All `HashedCrossing` inputs should have shape `()`, `(batch_size)` or "
                             f"`(batch_size, 1)`. Received: shapes {[c.shape for c in cols]}")
        if any(c.shape != shape for c in cols[1:]):
            raise ValueError(f"All `HashedCrossing` inputs should have equal shape. Received: shapes "
                             f"{[c.shape for c in cols]}")
        if not all(c.dtype.kind in "iuUSO" for c in cols):
            raise ValueError(f"All `HashedCrossing` inputs should have an integer or string dtype. Received: "
                             f"dtypes {[str(c.dtype) for c in cols]}")
        hashes = [_column_hashes(c.ravel()) for c in cols]
        out = []
        for row in zip(*hashes):
            h = _CROSS_KEY
            for v in row:
                h = _cat64(h, v)
            out.append(h % self.num_bins)
        indices = np.array(out, dtype=np.int64).reshape(shape)
        return as_output(encode_categorical(indices, self.output_mode, self.num_bins, self.dtype))

    def get_config(self) -> dict:
        return {"num_bins": self.num_bins, "output_mode": self.output_mode, "sparse": self.sparse, "name": self.name,
                "dtype": self.dtype.name}
