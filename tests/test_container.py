import zlib

import pytest

from bitstream import container as C
from bitstream.container import ChecksumError, Chunk, FormatError, TruncatedError, UnsupportedError


def sample() -> bytes:
    return C.pack_chunks([Chunk("HEAD", b"h" * 18), Chunk("ZLAT", b"z" * 5), Chunk("YLAT", bytes(range(256)) * 3)])


def test_round_trip_and_layout():
    data = sample()
    assert data[:4] == b"\x89NIC" and data[4:6] == bytes(C.VERSION)
    # HEAD: type, 1-byte length, payload, CRC over type+length+payload
    assert data[6:10] == b"HEAD" and data[10] == 18
    assert int.from_bytes(data[29:33], "big") == zlib.crc32(data[6:29])
    version, chunks = C.unpack_chunks(data)
    assert version == C.VERSION
    assert [(c.type, c.payload) for c in chunks] == [("HEAD", b"h" * 18), ("ZLAT", b"z" * 5), ("YLAT", bytes(range(256)) * 3)]


def test_uleb128_lengths():
    for n in (0, 1, 127, 128, 300, 16383, 16384, 1 << 21):
        data = C.pack_chunks([Chunk("abcd", b"\0" * n)])
        assert len(C.unpack_chunks(data)[1][0].payload) == n


def test_every_truncation_is_reported():
    data = sample()
    for cut in range(len(data)):
        prefix = data[:cut]
        try:
            _, chunks = C.unpack_chunks(prefix)
        except FormatError:
            continue
        # Only a cut exactly between chunks parses: then a chunk is missing.
        assert len(chunks) < 3


def test_every_bit_flip_in_a_chunk_is_detected_and_named():
    data = sample()
    starts = {6, 6 + 4 + 1 + 18 + 4, 6 + 27 + 4 + 1 + 5 + 4}
    for pos in range(6, len(data), 7):
        for bit in (0, 3, 7):
            bad = bytearray(data)
            bad[pos] ^= 1 << bit
            with pytest.raises(FormatError) as e:
                C.unpack_chunks(bytes(bad))
            if isinstance(e.value, ChecksumError):
                assert e.value.offset in starts  # names the chunk (its type may be the flipped part)


def test_signature_and_versions():
    data = sample()
    with pytest.raises(FormatError, match="signature"):
        C.unpack_chunks(b"\x89PNG" + data[4:])
    newer = data[:4] + bytes([C.VERSION[0] + 1, 0]) + data[6:]
    with pytest.raises(UnsupportedError, match="upgrade"):
        C.unpack_chunks(newer)
    minor = data[:5] + bytes([C.VERSION[1] + 9]) + data[6:]
    assert C.unpack_chunks(minor)[0] == (C.VERSION[0], C.VERSION[1] + 9)


def test_absurd_length_is_refused_before_reading():
    body = b"YLAT" + bytes([0xFF, 0xFF, 0xFF, 0x7F])  # 2**28 - 1 claimed, nothing behind it
    with pytest.raises(TruncatedError):
        C.unpack_chunks(C.MAGIC + bytes(C.VERSION) + body)
    too_long = b"YLAT" + bytes([0xFF, 0xFF, 0xFF, 0xFF, 0x01])
    with pytest.raises(FormatError, match="longer than"):
        C.unpack_chunks(C.MAGIC + bytes(C.VERSION) + too_long)


def test_salvage_mode_keeps_damaged_chunks():
    data = bytearray(sample())
    data[-10] ^= 0xFF  # inside YLAT's payload
    with pytest.raises(ChecksumError, match="YLAT"):
        C.unpack_chunks(bytes(data))
    _, chunks = C.unpack_chunks(bytes(data), verify=False)
    assert chunks[2].type == "YLAT"


def test_invalid_chunk_types_cannot_be_written():
    with pytest.raises(ValueError):
        C.pack_chunks([Chunk("AB1D", b"")])
