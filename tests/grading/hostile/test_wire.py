"""The wire format between the grader and the student's process: plain data only, no pickle."""

from __future__ import annotations

import io
import json
import pickle
import struct

import numpy as np
import pytest

from cnnbook.grading import _child as wire


def _no_handles(obj):
    raise TypeError(f"not plain: {type(obj).__name__}")


def _roundtrip(value):
    data = wire.pack(value, _no_handles)
    (size,) = struct.unpack("<Q", data[:8])
    assert size == len(data) - 8
    return wire.unpack(data[8:], lambda node: pytest.fail("no handle expected"))


def test_plain_values_round_trip_with_types_and_dtypes():
    rng = np.random.default_rng(1)
    value = {
        "x": rng.standard_normal((2, 3)).astype(np.float32),
        "i": np.arange(5, dtype=np.int16),
        "b": np.array([True, False]),
        7: (1, 2.5, None, "text", [True, 3 + 4j]),
        ("tuple", "key"): np.float64(1.25),
        "big": 2**70,
        "nan": float("nan"),
        "empty": np.zeros((0, 4)),
    }
    got = _roundtrip(value)
    assert set(got) == set(value)
    for key in ("x", "i", "b", "empty"):
        assert got[key].dtype == value[key].dtype and got[key].shape == value[key].shape
        np.testing.assert_array_equal(got[key], value[key])
        assert got[key].flags.writeable  # a student's in-place change must not crash on it
    assert got[7] == (1, 2.5, None, "text", [True, 3 + 4j])
    assert isinstance(got[7], tuple) and isinstance(got[7][4], list)
    assert type(got[("tuple", "key")]) is np.float64 and got[("tuple", "key")] == 1.25
    assert got["big"] == 2**70 and np.isnan(got["nan"])


def test_the_same_array_twice_stays_one_object():
    x = np.arange(4.0)
    a, b = _roundtrip((x, x))
    assert a is b
    a[0] = 9.0
    assert b[0] == 9.0


def test_object_arrays_and_other_objects_need_a_handle():
    with pytest.raises(TypeError, match="not plain"):
        wire.pack(np.array([object()], dtype=object), _no_handles)
    with pytest.raises(TypeError, match="not plain"):
        wire.pack({"f": lambda: 1}, _no_handles)
    handles = []
    data = wire.pack([1, {1, 2}], lambda obj: handles.append(obj) or {"$h": 5})
    back = wire.unpack(data[8:], lambda node: ("handle", node["$h"]))
    assert back == [1, ("handle", 5)] and handles == [{1, 2}]


def _message(tree, arrays=()):
    header = json.dumps({"tree": tree, "n": len(arrays)}).encode()
    body = struct.pack("<Q", len(header)) + header
    for blob in arrays:
        body += struct.pack("<Q", len(blob)) + blob
    return body


def test_a_pickle_inside_an_array_is_refused():
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(wire.WireError, match="bad array"):
        wire.unpack(_message({"$a": 0}, [buffer.getvalue()]), None)
    with pytest.raises(wire.WireError):
        wire.unpack(_message({"$a": 0}, [pickle.dumps([1, 2])]), None)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        struct.pack("<Q", 999) + b"{}",
        _message({"$a": 3}),
        _message({"$zz": 1}),
        _message({"$d": [[1]]}),
        _message({"$d": [[[1, 2], 3]]}),  # a list as a key is unhashable
        _message({"$c": ["a", 1]}),
        struct.pack("<Q", 5) + b"nope!",
        _message(0, [b"\x93NUMPY garbage"]),
    ],
)
def test_malformed_messages_raise_wire_error(body):
    with pytest.raises(wire.WireError):
        wire.unpack(body, lambda node: None)


def test_deep_nesting_is_refused():
    deep: list = []
    for _ in range(wire.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(wire.WireError, match="deeply"):
        wire.pack(deep, _no_handles)
    tree: object = 0
    for _ in range(wire.MAX_DEPTH + 5):
        tree = [tree]
    with pytest.raises(wire.WireError, match="deeply"):
        wire.unpack(_message(tree), None)


def test_oversized_message_is_refused_before_reading_it():
    import os

    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, struct.pack("<Q", 10_000))
        with pytest.raises(wire.WireError, match="exceeds"):
            wire.read_message(read_fd, None, max_bytes=100)
    finally:
        os.close(read_fd)
        os.close(write_fd)
