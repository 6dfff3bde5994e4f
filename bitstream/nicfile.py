"""A whole `.nic` file as a typed object: header, latent streams and optional metadata."""
from __future__ import annotations

from dataclasses import dataclass

from .container import ChecksumError, Chunk, FormatError, UnsupportedError, pack_chunks, unpack_chunks
from .header import Header

CRITICAL = ("HEAD", "ZLAT", "YLAT")  # in this order, each exactly once
ANCILLARY = {"iccp": "icc", "exif": "exif", "alph": "alpha"}


@dataclass(frozen=True)
class NicFile:
    header: Header
    z_stream: bytes  # range-coded hyper-latents
    y_stream: bytes  # range-coded latents
    icc: bytes | None = None  # ICC profile, carried through untouched
    exif: bytes | None = None  # EXIF block, carried through untouched
    alpha: bytes | None = None  # zlib-compressed 8-bit alpha plane (lossless), RGBA inputs only


def write(f: NicFile) -> bytes:
    chunks = [Chunk("HEAD", f.header.to_bytes()), Chunk("ZLAT", f.z_stream), Chunk("YLAT", f.y_stream)]
    chunks += [Chunk(t, getattr(f, a)) for t, a in ANCILLARY.items() if getattr(f, a) is not None]
    return pack_chunks(chunks)


def read(data: bytes, *, verify: bool = True) -> NicFile:
    """Parse and validate a file.  ``verify=False`` tolerates damaged latent/metadata chunks (the
    decoded image shows the damage); the header must still be intact, since sizes come from it."""
    _, chunks = unpack_chunks(data, verify=verify)
    found: dict[str, bytes] = {}
    for i, c in enumerate(chunks):
        if c.type in CRITICAL:
            if c.type in found:
                raise FormatError(f"duplicate {c.type} chunk")
            if i >= len(CRITICAL) or CRITICAL[i] != c.type:
                raise FormatError(f"chunk {c.type} out of order (expected {', '.join(CRITICAL)} first)")
            if c.type == "HEAD" and not c.crc_ok:
                raise ChecksumError("HEAD", 6)  # HEAD is the first chunk, right after the 6-byte preamble
        elif c.critical:
            raise UnsupportedError(f"unknown critical chunk {c.type!r}: written by a newer encoder?")
        elif c.type not in ANCILLARY or c.type in found:
            continue  # unknown or repeated ancillary chunks are skipped
        found[c.type] = c.payload
    missing = [t for t in CRITICAL if t not in found]
    if missing:
        raise FormatError(f"missing chunk(s) {', '.join(missing)}: file truncated?")
    extra = {a: found.get(t) for t, a in ANCILLARY.items()}
    return NicFile(Header.from_bytes(found["HEAD"]), found["ZLAT"], found["YLAT"], **extra)
