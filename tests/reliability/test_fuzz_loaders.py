"""Fuzzed model and weights files (truncations, bit flips, inflated sizes, wrong dtypes, swapped
and extra members): every load ends in ModelFileError or loads correctly, never with another
exception, a hang or more than a small memory ceiling, and a failed load changes nothing."""
import io
import json
import struct
import time
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import load as st_load

import gradflow as keras
from gradflow.layers import Dense
from gradflow.saving import ModelFileError, load_model

MEMORY_CEILING = 24 << 20   # the model is a few kB; reading any variant of its file stays far below this
TIME_CEILING = 5.0          # seconds per load (the real ones take milliseconds)
FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def make_model():
    model = keras.Sequential([keras.Input(shape=(5,)), Dense(6, activation="relu"), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("good")
    model = make_model()
    model.fit(np.random.default_rng(0).standard_normal((12, 5)).astype("float32"), np.arange(12) % 3,
              epochs=1, verbose=0)
    model.save(folder / "m.gflow")
    model.save_weights(folder / "w.safetensors")
    return {"model": (folder / "m.gflow").read_bytes(), "weights": (folder / "w.safetensors").read_bytes(),
            "values": model.get_weights()}


def members(blob: bytes) -> list:
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        return [(i.filename, zf.read(i), i.compress_type) for i in zf.infolist()]


def rezip(items) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data, method in items:
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, compress_type=method)
    return buf.getvalue()


def check(tmp_path, blob: bytes, files) -> None:
    """Load ``blob`` both ways; only success or ModelFileError, within the ceilings."""
    path = tmp_path / "fuzzed.gflow"
    path.write_bytes(blob)
    target = make_model()
    before = target.get_weights()
    for load in (lambda: load_model(path), lambda: target.load_weights(path)):
        tracemalloc.start()
        t0 = time.perf_counter()
        try:
            load()
        except ModelFileError as exc:
            assert str(path) in str(exc)
        except Exception as exc:  # noqa: BLE001 - the property under test
            pytest.fail(f"{type(exc).__name__} instead of ModelFileError: {exc}")
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        assert time.perf_counter() - t0 < TIME_CEILING
        assert peak < MEMORY_CEILING, f"peak {peak} bytes"
    after = target.get_weights()
    stored = files["values"]
    if not blob.startswith(b"PK"):  # plain safetensors has no checksum: flipped data bits load as stored
        try:
            tensors = st_load(blob)
            stored = [tensors[k] for k in json.loads(st_header(blob)["__metadata__"]["order"])]
        except Exception:  # noqa: BLE001 - unreadable for safetensors too: then the load must have failed
            stored = None
    loaded = stored is not None and all(np.array_equal(a, b) for a, b in zip(after, stored))
    unchanged = all(np.array_equal(a, b) for a, b in zip(after, before))
    assert loaded or unchanged  # a load is all or nothing


def st_header(blob: bytes) -> dict:
    n = int.from_bytes(blob[:8], "little")
    return json.loads(blob[8:8 + n])


@FUZZ
@given(which=st.sampled_from(["model", "weights"]), frac=st.floats(0.0, 1.0))
def test_truncated(tmp_path, files, which, frac):
    blob = files[which]
    check(tmp_path, blob[:int(len(blob) * frac)], files)


@FUZZ
@given(which=st.sampled_from(["model", "weights"]),
       flips=st.lists(st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(0, 7)), min_size=1, max_size=6))
def test_bit_flips(tmp_path, files, which, flips):
    blob = bytearray(files[which])
    for where, bit in flips:
        blob[int(where * len(blob))] ^= 1 << bit
    check(tmp_path, bytes(blob), files)


def _zip_size_fields(blob: bytes) -> list:
    """Offsets of the 4-byte compressed/uncompressed size fields in local and central headers."""
    out = []
    for sig, first in ((b"PK\x03\x04", 18), (b"PK\x01\x02", 20)):
        start = 0
        while (i := blob.find(sig, start)) >= 0:
            out += [i + first, i + first + 4]
            start = i + 4
    return out


@FUZZ
@given(field=st.integers(0, 64), size=st.sampled_from([0, 1, 7, 100, 1 << 20, 1 << 29, 1 << 31, (1 << 32) - 1]))
def test_inflated_zip_sizes(tmp_path, files, field, size):
    blob = bytearray(files["model"])
    fields = _zip_size_fields(bytes(blob))
    at = fields[field % len(fields)]
    blob[at:at + 4] = struct.pack("<I", size)
    check(tmp_path, bytes(blob), files)


def _edit_header(blob: bytes, edit) -> bytes:
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    edit(header)
    head = json.dumps(header).encode()
    return len(head).to_bytes(8, "little") + head + blob[8 + n:]


@FUZZ
@given(member=st.sampled_from(["model.weights.safetensors", "optimizer.safetensors", "plain"]),
       entry=st.integers(0, 50),
       change=st.one_of(
           st.tuples(st.just("dtype"), st.sampled_from(["F64", "F16", "I32", "I64", "U8", "BOOL", "BF16", "F8_E4M3",
                                                        "", "f32"])),
           st.tuples(st.just("shape"), st.lists(st.integers(-2, 1 << 40), max_size=4)),
           st.tuples(st.just("data_offsets"), st.lists(st.integers(-1, 1 << 40), min_size=0, max_size=3)),
           st.tuples(st.just("header_length"), st.integers(0, (1 << 64) - 1))))
def test_wrong_dtypes_shapes_offsets_and_header_lengths(tmp_path, files, member, entry, change):
    kind, value = change

    def edit(header):
        keys = sorted(k for k in header if k != "__metadata__")
        if keys:
            header[keys[entry % len(keys)]][kind] = value

    def mutate(blob):
        if kind == "header_length":
            return struct.pack("<Q", value) + blob[8:]
        return _edit_header(blob, edit)

    if member == "plain":
        check(tmp_path, mutate(files["weights"]), files)
    else:
        items = [(n, mutate(d) if n == member else d, m) for n, d, m in members(files["model"])]
        check(tmp_path, rezip(items), files)


@FUZZ
@given(order=st.permutations([0, 1, 2]), extra=st.sampled_from([None, "config.json", "notes.txt", "../evil"]),
       method=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]))
def test_swapped_duplicated_and_extra_members(tmp_path, files, order, extra, method):
    items = members(files["model"])
    names = [n for n, _, _ in items]
    swapped = [(names[i], items[j][1], method) for i, j in zip(range(3), order)]
    if extra is not None:
        swapped.append((extra, b"{}", zipfile.ZIP_STORED))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        blob = rezip(swapped)
    check(tmp_path, blob, files)


def test_the_unmodified_files_load(tmp_path, files):
    (tmp_path / "m.gflow").write_bytes(files["model"])
    restored = load_model(tmp_path / "m.gflow")
    assert all(np.array_equal(a, b) for a, b in zip(restored.get_weights(), files["values"]))
    check(tmp_path, files["weights"], files)


BOMB = 48 << 20  # zeros that deflate to ~48 kB


def bomb_zip(items, name: str) -> bytes:
    """``items`` with member ``name`` replaced by (or, when new, added as) BOMB deflated zeros."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n, data, method in items:
            if n != name:
                zf.writestr(n, data, compress_type=method)
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w") as member:
            chunk = bytes(1 << 20)
            for _ in range(BOMB >> 20):
                member.write(chunk)
    return buf.getvalue()


@pytest.mark.parametrize("name", ["extra.bin", "config.json", "model.weights.safetensors", "optimizer.safetensors"])
def test_members_that_inflate_far_beyond_the_model(tmp_path, files, name):
    blob = bomb_zip(members(files["model"]), name)
    assert len(blob) < 1 << 20
    check(tmp_path, blob, files)
