"""The `.nic` container and its entropy coding.  Imports numpy and constriction only, never torch,
so files can be parsed, validated and fuzzed without the neural networks."""
from .container import (
    MAGIC,
    VERSION,
    ChecksumError,
    Chunk,
    FormatError,
    TruncatedError,
    UnsupportedError,
    pack_chunks,
    unpack_chunks,
)
from .header import Header
from .nicfile import NicFile, read, write
from .tiles import TileGrid

__all__ = [
    "MAGIC",
    "VERSION",
    "ChecksumError",
    "Chunk",
    "FormatError",
    "Header",
    "NicFile",
    "TileGrid",
    "TruncatedError",
    "UnsupportedError",
    "pack_chunks",
    "read",
    "unpack_chunks",
    "write",
]
