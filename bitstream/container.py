"""Chunked container: signature, version, then typed chunks with CRC32 (in the spirit of PNG).

    file  := MAGIC(4) major(u8) minor(u8) chunk*
    chunk := type(4 ASCII letters) length(ULEB128, <= 4 bytes) payload(length) crc32(u32 big-endian)

The CRC covers type, length bytes and payload.  A chunk whose type starts with an upper-case
letter is critical (a reader that does not know it must refuse the file); lower-case first
letter means ancillary (safe to skip).  See SPEC.md for the byte-level description.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

MAGIC = b"\x89NIC"
VERSION = (1, 8)  # newest (major, minor) this reader knows; a major bump means older readers cannot decode new files
MAX_CHUNK_BYTES = (1 << 28) - 1  # 256 MiB: far above any real chunk, caps what a header may make us read
_MAX_LEN_BYTES = 4  # ULEB128 of MAX_CHUNK_BYTES fits in 4 bytes
# A real file has at most 512 tiles (2^27 pixels in tiles of at least 512 x 512) plus a few
# chunks; a cap on the count keeps a file of millions of empty chunks from costing seconds.
MAX_CHUNKS = 1024


class FormatError(ValueError):
    """A `.nic` file (or its data) is malformed, damaged, or not supported by this reader."""


class TruncatedError(FormatError):
    pass


class ChecksumError(FormatError):
    def __init__(self, chunk_type: str, offset: int):
        super().__init__(f"chunk {chunk_type!r} at byte {offset} is corrupted (CRC mismatch)")
        self.chunk_type = chunk_type
        self.offset = offset


class UnsupportedError(FormatError):
    pass


@dataclass(frozen=True)
class Chunk:
    type: str
    payload: bytes
    crc_ok: bool = True  # False only for chunks kept by unpack_chunks(verify=False)
    offset: int = -1  # byte offset in the file it was read from (for error messages)

    @property
    def critical(self) -> bool:
        return self.type[0].isupper()


def _uleb128(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_uleb128(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    for i in range(_MAX_LEN_BYTES):
        if pos + i >= len(data):
            raise TruncatedError(f"file truncated inside a chunk length at byte {pos}")
        b = data[pos + i]
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            if i and b == 0:
                raise FormatError(f"non-canonical chunk length at byte {pos}")
            return value, pos + i + 1
    raise FormatError(f"chunk length at byte {pos} is longer than {_MAX_LEN_BYTES} bytes")


def _valid_type(t: bytes) -> bool:
    return len(t) == 4 and all(65 <= c <= 90 or 97 <= c <= 122 for c in t)


def pack_chunks(chunks: list[Chunk], version: tuple[int, int] = VERSION) -> bytes:
    out = bytearray(MAGIC)
    out += bytes(version)
    for c in chunks:
        t = c.type.encode("ascii")
        if not _valid_type(t):
            raise ValueError(f"invalid chunk type {c.type!r}")
        if len(c.payload) > MAX_CHUNK_BYTES:
            raise ValueError(f"chunk {c.type!r} is too large ({len(c.payload)} bytes)")
        body = t + _uleb128(len(c.payload)) + c.payload
        out += body + zlib.crc32(body).to_bytes(4, "big")
    return bytes(out)


def unpack_chunks(data: bytes, *, verify: bool = True) -> tuple[tuple[int, int], list[Chunk]]:
    """Split a file into chunks, checking signature, version and every CRC.

    ``verify=False`` keeps chunks whose CRC fails, flagged ``crc_ok=False`` (for salvage);
    structural errors still raise.
    """
    if len(data) < len(MAGIC) + 2:
        raise TruncatedError("not a .nic file: too short")
    if data[:4] != MAGIC:
        raise FormatError("not a .nic file (bad signature)")
    version = (data[4], data[5])
    if version[0] != VERSION[0]:
        raise UnsupportedError(
            f"file format version {version[0]}.{version[1]} is not supported by this reader "
            f"(reads {VERSION[0]}.x); upgrade hific-codec" if version[0] > VERSION[0] else
            f"file format version {version[0]}.{version[1]} is no longer supported (reads {VERSION[0]}.x)"
        )
    pos = 6
    chunks = []
    while pos < len(data):
        start = pos
        if pos + 4 > len(data):
            raise TruncatedError(f"file truncated inside a chunk type at byte {pos}")
        t = data[pos : pos + 4]
        if not _valid_type(t):
            raise FormatError(f"invalid chunk type at byte {pos}")
        n, pos = _read_uleb128(data, pos + 4)
        if n > MAX_CHUNK_BYTES:
            raise FormatError(f"chunk {t.decode()!r} claims {n} bytes (limit {MAX_CHUNK_BYTES})")
        end = pos + n
        if end + 4 > len(data):
            raise TruncatedError(f"file truncated inside chunk {t.decode()!r} (needs {end + 4 - len(data)} more bytes)")
        crc_ok = zlib.crc32(data[start:end]) == int.from_bytes(data[end : end + 4], "big")
        if verify and not crc_ok:
            raise ChecksumError(t.decode(), start)
        chunks.append(Chunk(t.decode(), bytes(data[pos:end]), crc_ok, start))
        if len(chunks) > MAX_CHUNKS:
            raise FormatError(f"file has more than {MAX_CHUNKS} chunks")
        pos = end + 4
    return version, chunks
