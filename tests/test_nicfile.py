import pytest

import bitstream
from bitstream import FormatError, Header, NicFile, TileGrid, UnsupportedError
from bitstream.container import Chunk, pack_chunks
from bitstream.header import MAX_PIXELS, MAX_SIDE


def header(**kw) -> Header:
    args = {"width": 768, "height": 512, "channels": 3, "model_id": 1, "weights_hash": b"\x01\x02\x03\x04", "quality": 37.25}
    args.update(kw)
    return Header(**args)


def test_header_round_trip_is_18_bytes():
    h = header()
    raw = h.to_bytes()
    assert len(raw) == 18
    assert Header.from_bytes(raw) == h


@pytest.mark.parametrize("kw", [{"width": 0}, {"height": MAX_SIDE + 1}, {"width": MAX_SIDE, "height": MAX_SIDE},
                                {"channels": 2}, {"quality": 100.5}, {"weights_hash": b"abc"}])
def test_header_caps(kw):
    with pytest.raises(FormatError):
        header(**kw)


def test_pixel_cap_is_below_side_cap():
    assert MAX_PIXELS < MAX_SIDE * MAX_SIDE


def test_file_round_trip_with_metadata():
    f = NicFile(header(channels=4), b"zz", b"yyy", icc=b"icc!", exif=b"Exif\0\0", alpha=b"a")
    assert bitstream.read(bitstream.write(f)) == f


def test_icc_profiles_are_stored_compressed_and_bad_ones_skipped():
    import zlib

    icc = bytes(range(64)) * 40  # compressible, like real profiles (tag tables, curves)
    data = bitstream.write(NicFile(header(), b"z", b"y", icc=icc))
    assert bitstream.read(data).icc == icc and len(data) < 400
    assert [c.type for c in bitstream.unpack_chunks(data)[1]][-1] == "iccz"
    tiny = bitstream.write(NicFile(header(), b"z", b"y", icc=b"icc!"))  # not worth compressing
    assert bitstream.unpack_chunks(tiny)[1][-1].type == "iccp" and bitstream.read(tiny).icc == b"icc!"
    base = [Chunk("HEAD", header().to_bytes()), Chunk("ZLAT", b"z"), Chunk("YLAT", b"y")]
    bomb = zlib.compress(bytes(1 << 25), 9)  # 32 MiB of zeros in 32 KB: over the 16 MiB cap
    for bad in (b"not zlib", zlib.compress(icc)[:-5], bomb):
        f = bitstream.read(chunks_file(*base, Chunk("iccz", bad)))
        assert f.icc is None and f.y_streams == (b"y",)  # skipped, never trusted


def test_xmp_is_carried_compressed_and_bad_ones_skipped():
    import zlib

    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>' + b"<rdf:li>tag</rdf:li>" * 50 + b"</rdf:RDF></x:xmpmeta>"
    data = bitstream.write(NicFile(header(), b"z", b"y", exif=b"Exif\0\0", xmp=xmp))
    f = bitstream.read(data)
    assert f.xmp == xmp and f.exif == b"Exif\0\0"
    assert "xmpz" in [c.type for c in bitstream.unpack_chunks(data)[1]] and len(data) < len(xmp)
    assert bitstream.read(bitstream.write(NicFile(header(), b"z", b"y", xmp=b"<x/>"))).xmp == b"<x/>"  # as xmpd
    base = [Chunk("HEAD", header().to_bytes()), Chunk("ZLAT", b"z"), Chunk("YLAT", b"y")]
    for bad in (b"not zlib", zlib.compress(xmp)[:-5]):
        assert bitstream.read(chunks_file(*base, Chunk("xmpz", bad))).xmp is None  # skipped, never trusted


def test_container_overhead():
    f = NicFile(header(), b"z" * 120, b"y" * 5000)
    assert len(bitstream.write(f)) - 120 - 5000 - 18 <= 40


def chunks_file(*chunks: Chunk) -> bytes:
    return pack_chunks(list(chunks))


def test_unknown_ancillary_is_skipped_unknown_critical_refused():
    base = [Chunk("HEAD", header().to_bytes()), Chunk("ZLAT", b"z"), Chunk("YLAT", b"y")]
    f = bitstream.read(chunks_file(*base, Chunk("zzzz", b"future")))
    assert f.y_streams == (b"y",)
    with pytest.raises(UnsupportedError, match="ZZZZ"):
        bitstream.read(chunks_file(*base, Chunk("ZZZZ", b"")))
    with pytest.raises(UnsupportedError, match="ZZZZ"):
        bitstream.read(chunks_file(base[0], Chunk("ZZZZ", b""), *base[1:]))


def test_missing_duplicate_and_misordered_chunks():
    h, z, y = Chunk("HEAD", header().to_bytes()), Chunk("ZLAT", b"z"), Chunk("YLAT", b"y")
    with pytest.raises(FormatError, match="expected chunk YLAT, found end of file"):
        bitstream.read(chunks_file(h, z))
    with pytest.raises(FormatError, match="expected chunk HEAD, found ZLAT"):
        bitstream.read(chunks_file(z, h, y))
    with pytest.raises(FormatError, match="unexpected YLAT"):
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
    assert bitstream.read(bytes(data), verify=False).y_streams != (b"yyyy",)


def test_tiled_file_round_trip_and_version():
    big = header(width=2500, height=1100)
    grid = TileGrid(1024, 1024)
    assert grid.shape(2500, 1100) == (2, 3)
    f = NicFile(big, b"z", tuple(bytes([k]) * (k + 1) for k in range(6)), tiles=grid)
    data = bitstream.write(f)
    assert data[4:6] == bytes([1, 1])  # TILE needs a 1.1 reader
    assert bitstream.read(data) == f
    assert bitstream.write(NicFile(big, b"z", b"y"))[4:6] == bytes([1, 0])  # untiled stays 1.0
    with pytest.raises(FormatError, match="5 latent stream"):
        NicFile(big, b"z", (b"y",) * 5, tiles=grid)
    with pytest.raises(FormatError, match="expected chunk YLAT"):  # a tile's stream missing
        bitstream.read(pack_chunks(list(bitstream.unpack_chunks(data)[1][:-1]), (1, 1)))
    with pytest.raises(FormatError, match="TILE chunk in a version 1.0"):
        bitstream.read(pack_chunks(bitstream.unpack_chunks(data)[1], (1, 0)))


@pytest.mark.parametrize("side", [0, 63, 100, (1 << 16) - 64])
def test_bad_tile_sizes_are_refused(side):
    with pytest.raises(FormatError, match="tile side"):
        TileGrid.from_bytes(side.to_bytes(2, "big") + (1024).to_bytes(2, "big"))


def test_tiles_below_the_file_minimum_are_refused_before_any_decoding(crop):
    """A valid file whose tiles are tiny (each tile has a fixed decoding cost: a 4 KB file of
    1024x1024 in 64-px tiles decoded in minutes) is refused at parse time, in a few milliseconds."""
    import time

    import hific_codec
    from bitstream.tiles import MIN_FILE_TILE
    from hific_codec import codec

    m = codec.load()
    grid = TileGrid(64, 64)
    z, ys = codec.code(m, codec.analyse(m, crop), 40.0, grid)
    h = header(width=crop.shape[1], height=crop.shape[0], model_id=m.entry.model_id, weights_hash=m.entry.short_hash,
               quality=40.0)
    chunks = [Chunk("HEAD", h.to_bytes()), Chunk("TILE", (64).to_bytes(2, "big") * 2), Chunk("ZLAT", z)]
    data = pack_chunks(chunks + [Chunk("YLAT", y) for y in ys], m.format_version)
    t = time.perf_counter()
    with pytest.raises(FormatError, match=f"at least {MIN_FILE_TILE}"):
        hific_codec.decode(data)
    assert time.perf_counter() - t < 0.5
    with pytest.raises(FormatError, match="at least"):  # and no encoder can write one
        bitstream.write(NicFile(h, z, ys, tiles=grid))
