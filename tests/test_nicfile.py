import pytest

import bitstream
from bitstream import FormatError, Header, NicFile, UnsupportedError
from bitstream.container import Chunk, pack_chunks
from bitstream.header import MAX_PIXELS, MAX_SIDE


def header(**kw) -> Header:
    args = dict(width=768, height=512, channels=3, model_id=1, weights_hash=b"\x01\x02\x03\x04", quality=37.25)
    args.update(kw)
    return Header(**args)


def test_header_round_trip_is_18_bytes():
    h = header()
    raw = h.to_bytes()
    assert len(raw) == 18
    assert Header.from_bytes(raw) == h


@pytest.mark.parametrize("kw", [dict(width=0), dict(height=MAX_SIDE + 1), dict(width=MAX_SIDE, height=MAX_SIDE),
                                dict(channels=2), dict(quality=100.5), dict(weights_hash=b"abc")])
def test_header_caps(kw):
    with pytest.raises(FormatError):
        header(**kw)


def test_pixel_cap_is_below_side_cap():
    assert MAX_PIXELS < MAX_SIDE * MAX_SIDE


def test_file_round_trip_with_metadata():
    f = NicFile(header(channels=4), b"zz", b"yyy", icc=b"icc!", exif=b"Exif\0\0", alpha=b"a")
    assert bitstream.read(bitstream.write(f)) == f


def test_container_overhead():
    f = NicFile(header(), b"z" * 120, b"y" * 5000)
    assert len(bitstream.write(f)) - 120 - 5000 - 18 <= 40


def chunks_file(*chunks: Chunk) -> bytes:
    return pack_chunks(list(chunks))


def test_unknown_ancillary_is_skipped_unknown_critical_refused():
    base = [Chunk("HEAD", header().to_bytes()), Chunk("ZLAT", b"z"), Chunk("YLAT", b"y")]
    f = bitstream.read(chunks_file(*base, Chunk("zzzz", b"future")))
    assert f.y_stream == b"y"
    with pytest.raises(UnsupportedError, match="TILE"):
        bitstream.read(chunks_file(*base, Chunk("TILE", b"")))


def test_missing_duplicate_and_misordered_chunks():
    h, z, y = Chunk("HEAD", header().to_bytes()), Chunk("ZLAT", b"z"), Chunk("YLAT", b"y")
    with pytest.raises(FormatError, match="missing"):
        bitstream.read(chunks_file(h, z))
    with pytest.raises(FormatError, match="out of order"):
        bitstream.read(chunks_file(z, h, y))
    with pytest.raises(FormatError, match="duplicate"):
        bitstream.read(chunks_file(h, z, y, Chunk("YLAT", b"y")))


def test_bad_header_payload():
    bad = bytearray(header().to_bytes())
    bad[0:4] = (0).to_bytes(4, "big")
    with pytest.raises(FormatError, match="size"):
        bitstream.read(chunks_file(Chunk("HEAD", bytes(bad)), Chunk("ZLAT", b""), Chunk("YLAT", b"")))
    with pytest.raises(FormatError, match="HEAD chunk has"):
        bitstream.read(chunks_file(Chunk("HEAD", b"short"), Chunk("ZLAT", b""), Chunk("YLAT", b"")))


def test_salvage_mode_still_requires_an_intact_header():
    data = bytearray(bitstream.write(NicFile(header(), b"zz", b"yyyy")))
    data[12] ^= 0x40  # inside HEAD's payload: the width
    with pytest.raises(FormatError, match="HEAD"):
        bitstream.read(bytes(data), verify=False)
    data = bytearray(bitstream.write(NicFile(header(), b"zz", b"yyyy")))
    data[-6] ^= 0x40  # inside YLAT
    assert bitstream.read(bytes(data), verify=False).y_stream != b"yyyy"
