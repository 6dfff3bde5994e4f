"""The `.nic` container and its entropy coding.  Imports numpy and constriction only, never torch,
so files can be parsed, validated and fuzzed without the neural networks."""
from .container import (
    MAGIC,
    VERSION,
    Chunk,
    ChecksumError,
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
    "MAGIC", "VERSION", "Chunk", "ChecksumError", "FormatError", "TruncatedError", "UnsupportedError",
    "Header", "NicFile", "TileGrid", "pack_chunks", "unpack_chunks", "read", "write",
]
