"""The IDX file format of MNIST and Fashion-MNIST: a verified reader and an encoder.

An IDX file is a 4-byte magic number ``00 00 <dtype code> <ndim>``, then ``ndim``
big-endian uint32 sizes, then the array in C order, big-endian. Files may be
gzip-compressed (detected from the content, not the name). Every header field is
checked against the file length, so a corrupt or truncated file raises a
``DataError`` (a ``ValueError``) that names the file and how to get a good copy.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from empirical.data.download import DataError

__all__ = ["DTYPES", "read_idx", "decode_idx", "encode_idx", "is_gzip"]

# IDX dtype code -> numpy dtype (big-endian, as stored in the file).
DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
_FIX = ("delete it and run again to download a fresh copy, or point --data-dir / INVARIANCE_DATA "
        "at a folder with good copies")


def is_gzip(data: bytes) -> bool:
    """True when ``data`` starts with the gzip magic bytes 1f 8b."""
    return data[:2] == _GZIP_MAGIC


def _corrupt(source: str, what: str) -> DataError:
    return DataError(f"{source}: not a valid IDX file ({what}); the file is corrupt or truncated: {_FIX}")


def decode_idx(data: bytes, source: str = "<bytes>", sha256: str | Sequence[str] | None = None) -> np.ndarray:
    """The array held by IDX bytes ``data`` (gzip or raw), native byte order, read-only; header checked.

    ``sha256``, when given, is the expected SHA-256 hex digest of the decompressed content, or a
    sequence of accepted digests (the content must match one of them).
    """
    if is_gzip(data):
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as err:
            raise _corrupt(source, f"gzip stream broken: {err}") from err
    if sha256 is not None:
        accepted = [sha256] if isinstance(sha256, str) else list(sha256)
        if not accepted:
            raise ValueError("sha256 is an empty sequence; pass None to skip verification or at least one digest")
        digest = hashlib.sha256(data).hexdigest()
        if digest not in (a.lower() for a in accepted):
            expected = accepted[0] if len(accepted) == 1 else f"one of {', '.join(accepted)}"
            raise DataError(f"{source}: SHA-256 of the decompressed content is {digest}, expected {expected}; "
                             f"the file is corrupt or a different dataset: {_FIX}")
    if len(data) < 4:
        raise _corrupt(source, f"{len(data)} bytes, shorter than the 4-byte magic number")
    zero, code, ndim = data[:2], data[2], data[3]
    if zero != b"\x00\x00":
        raise _corrupt(source, f"magic number starts with {zero.hex()}, expected 0000")
    if code not in DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in DTYPES)
        raise _corrupt(source, f"unknown dtype code 0x{code:02X}; known codes are {known}")
    if ndim < 1:
        raise _corrupt(source, "ndim is 0")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise _corrupt(source, f"{len(data)} bytes, shorter than the {header}-byte header for ndim={ndim}")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = DTYPES[code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        short = "truncated" if len(data) < expected else "trailing bytes"
        raise _corrupt(source, f"{short}: header says shape {shape} of {dtype.name}, i.e. {expected} bytes, "
                               f"but the content has {len(data)} bytes")
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    if not dtype.isnative and dtype.itemsize > 1:
        array = array.astype(dtype.newbyteorder("="))
        array.setflags(write=False)
    return array


def read_idx(path: str | Path, sha256: str | Sequence[str] | None = None) -> np.ndarray:
    """The array stored in the IDX file ``path`` (gzip or raw), read-only; optionally verify ``sha256`` (or any of)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read the file ({err}); check the path or {_FIX}") from err
    return decode_idx(data, source=str(path), sha256=sha256)


def encode_idx(array: np.ndarray, compress: bool = False) -> bytes:
    """The IDX bytes of ``array`` (any shape, a dtype in ``DTYPES``), gzip-compressed if ``compress``."""
    a = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in DTYPES.items()}
    native = a.dtype.newbyteorder("=")
    if native not in codes:
        raise ValueError(f"IDX has no dtype code for {a.dtype}; cast to one of "
                         f"{sorted(d.name for d in codes)} first")
    if a.ndim < 1 or a.ndim > 255:
        raise ValueError(f"IDX stores arrays with 1 to 255 dimensions, got ndim={a.ndim}")
    body = struct.pack(f">2sBB{a.ndim}I", b"\x00\x00", codes[native], a.ndim, *a.shape)
    body += np.ascontiguousarray(a, dtype=DTYPES[codes[native]]).tobytes()
    return gzip.compress(body, mtime=0) if compress else body
