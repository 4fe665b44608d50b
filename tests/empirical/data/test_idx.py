"""The IDX reader: headers of the real files against a hand-written struct parser, round trips, corruption."""

import gzip
import hashlib
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from empirical.data import idx
from tests.fixtures import full_data, needs_full_data

MNIST = full_data("mnist")  # found by the data lookup, without downloading; None when absent
needs_data = needs_full_data("mnist")

# The sanity figures of the shared data's README.
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@st.composite
def idx_arrays(draw):
    """A small array of any IDX dtype with 1 to 4 dimensions (finite values)."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5))
    elements = st.floats(-1e6, 1e6, width=8 * dtype.itemsize) if dtype.kind == "f" else None
    return draw(hnp.arrays(dtype, shape, elements=elements))


@needs_data
@pytest.mark.parametrize("prefix, n", [("train", 60_000), ("t10k", 10_000)])
def test_real_headers_match_a_hand_parser(prefix, n):
    with gzip.open(MNIST / f"{prefix}-images-idx3-ubyte.gz") as fh:
        assert struct.unpack(">IIII", fh.read(16)) == (0x00000803, n, 28, 28)
    raw = gzip.decompress((MNIST / f"{prefix}-labels-idx1-ubyte.gz").read_bytes())
    assert struct.unpack(">II", raw[:8]) == (0x00000801, n)
    labels = idx.read_idx(MNIST / f"{prefix}-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(labels, np.frombuffer(raw, np.uint8, offset=8))


@needs_data
def test_real_test_images_match_a_hand_parser():
    raw = gzip.decompress((MNIST / "t10k-images-idx3-ubyte.gz").read_bytes())
    images = idx.read_idx(MNIST / "t10k-images-idx3-ubyte.gz")
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(images.ravel(), np.frombuffer(raw, np.uint8, offset=16))


@needs_data
def test_real_train_label_counts_and_checksum():
    path = MNIST / "train-labels-idx1-ubyte.gz"
    sha = hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest()
    labels = idx.read_idx(path, sha256=sha)
    assert np.bincount(labels).tolist() == MNIST_TRAIN_COUNTS
    with pytest.raises(ValueError, match="SHA-256"):
        idx.read_idx(path, sha256="0" * 64)


def test_any_of_several_digests():
    raw = idx.encode_idx(np.arange(6, dtype=np.uint8))
    sha = hashlib.sha256(raw).hexdigest()
    assert idx.decode_idx(raw, sha256=("0" * 64, sha.upper())).tolist() == list(range(6))
    assert idx.decode_idx(idx.encode_idx(np.arange(6, dtype=np.uint8), compress=True), sha256=[sha]).size == 6
    with pytest.raises(ValueError, match=f"^x: SHA-256 of the decompressed content is {sha}, expected one of "
                                         f"{'0' * 64}, {'1' * 64}; .*--data-dir"):
        idx.decode_idx(raw, source="x", sha256=("0" * 64, "1" * 64))
    with pytest.raises(ValueError, match="sha256 is an empty sequence"):
        idx.decode_idx(raw, sha256=())


@given(idx_arrays(), st.booleans())
def test_round_trip(array, compress):
    data = idx.encode_idx(array, compress=compress)
    assert idx.is_gzip(data) == compress
    back = idx.decode_idx(data)
    assert back.dtype == array.dtype.newbyteorder("=") and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    assert not back.flags.writeable


@given(idx_arrays(), st.data())
def test_any_truncation_or_extension_is_named(array, data):
    blob = idx.encode_idx(array)
    cut = data.draw(st.integers(0, len(blob) - 1), label="cut")
    bad = data.draw(st.sampled_from([blob[:cut], blob + b"\x00" * (cut + 1)]), label="bad")
    with pytest.raises(ValueError, match=r"^broken\.idx: not a valid IDX file .*--data-dir"):
        idx.decode_idx(bad, source="broken.idx")


@given(idx_arrays(), st.integers(1, 50))
def test_truncated_gzip_is_named(array, drop):
    blob = idx.encode_idx(array, compress=True)
    with pytest.raises(ValueError, match=r"^z\.gz: not a valid IDX file \(gzip stream broken"):
        idx.decode_idx(blob[:max(2, len(blob) - drop)], source="z.gz")


@pytest.mark.parametrize("header, what", [
    (b"\x01\x00\x08\x01\x00\x00\x00\x00", "magic number"),
    (b"\x00\x00\x0a\x01\x00\x00\x00\x00", "unknown dtype code 0x0A"),
    (b"\x00\x00\x08\x00", "ndim is 0"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x01", "header"),
    (b"\x00\x00", "shorter than the 4-byte"),
])
def test_bad_headers(header, what):
    with pytest.raises(ValueError, match=what):
        idx.decode_idx(header)


def test_read_idx_names_the_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(idx.encode_idx(np.zeros((3, 2, 2), np.uint8), compress=True)[:-4])
    with pytest.raises(ValueError, match=str(path)):
        idx.read_idx(path)
    with pytest.raises(ValueError, match="cannot read"):
        idx.read_idx(tmp_path / "missing")


@pytest.mark.parametrize("dtype", [np.int64, np.bool_, np.complex64])
def test_encode_rejects_dtypes_without_a_code(dtype):
    with pytest.raises(ValueError, match="no dtype code"):
        idx.encode_idx(np.zeros(3, dtype))
