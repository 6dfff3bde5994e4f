"""Hostile or odd inputs at the edges: size caps before work, clear one-line errors, nothing
silently lost or mislabelled."""
import io
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

import bitstream
import hific_codec
from bitstream import FormatError, Header, NicFile
from bitstream.container import MAX_CHUNKS, Chunk, pack_chunks

from .test_cli import assert_clean_error, nic


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height grey pixels but holds one row of data: what a
    decompression bomb looks like before it is inflated."""
    def chunk(t: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + t + data + struct.pack(">I", zlib.crc32(t + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * (width + 1))) + \
        chunk(b"IEND", b"")


@pytest.mark.parametrize("w,h", [(30000, 30000), (16000, 10000)])
def test_oversized_inputs_are_refused_from_the_header(tmp_path, w, h):
    p = tmp_path / "big.png"
    p.write_bytes(png_header_only(w, h))
    t = time.perf_counter()
    r = nic("encode", str(p), "-o", str(tmp_path / "big.nic"))
    assert_clean_error(r, f"{w}x{h} image is larger than the format allows" if w * h < 2 * 89478485
                       else "larger than the format allows")
    assert "internal error" not in r.stderr.decode()
    assert time.perf_counter() - t < 20 and not (tmp_path / "big.nic").exists()


def test_decode_has_a_pixel_cap_with_a_default(tmp_path, crop):
    data = hific_codec.encode(crop, 10)
    f = tmp_path / "x.nic"
    f.write_bytes(data)
    assert_clean_error(nic("decode", str(f), "-o", str(tmp_path / "x.png"), "--max-pixels", "1000"), "max_pixels=1000")
    # a small file that claims 10000 x 10000 (beyond the default cap) is refused before any work
    head = bitstream.read(data).header
    big = Header(10000, 10000, 3, head.model_id, head.weights_hash, head.quality)
    g = tmp_path / "big.nic"
    g.write_bytes(bitstream.write(NicFile(big, b"\0" * 4, (b"\0" * 4,) * 100, tiles=bitstream.TileGrid(1024, 1024)),
                                  min_version=(1, 4)))
    t = time.perf_counter()
    assert_clean_error(nic("decode", str(g), "-o", str(tmp_path / "big.png")), "exceeds max_pixels=89478485")
    assert time.perf_counter() - t < 20 and not (tmp_path / "big.png").exists()


def test_pillow_plugin_load_follows_max_image_pixels(tmp_path, crop, monkeypatch):
    data = hific_codec.encode(crop, 10)
    im = Image.open(io.BytesIO(data))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(Image.DecompressionBombError):
        im.load()
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(data))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", crop.shape[0] * crop.shape[1])
    assert Image.open(io.BytesIO(data)).load() is not None


def test_animated_input_says_only_the_first_frame_is_kept(tmp_path, crop):
    frames = [Image.fromarray(crop[:64, :64]), Image.fromarray(crop[64:128, :64])]
    p = tmp_path / "anim.gif"
    frames[0].save(p, save_all=True, append_images=frames[1:])
    r = nic("encode", str(p), "-o", str(tmp_path / "a.nic"), "-q", "10")
    assert r.returncode == 0 and b"has 2 frames; only the first is encoded" in r.stderr


def test_cmyk_profile_is_not_attached_to_rgb_pixels(tmp_path, crop):
    icc = bytearray(200)
    icc[16:20] = b"CMYK"
    icc[12:16] = b"prtr"
    p = tmp_path / "cmyk.jpg"
    Image.fromarray(crop[:64, :64]).convert("CMYK").save(p, icc_profile=bytes(icc))
    assert Image.open(p).info.get("icc_profile", b"")[16:20] == b"CMYK"
    out = tmp_path / "c.nic"
    r = nic("encode", str(p), "-o", str(out), "-q", "10")
    assert r.returncode == 0 and b"dropped its CMYK ICC profile" in r.stderr
    assert bitstream.read(out.read_bytes()).icc is None
    rgb_icc = bytearray(icc)
    rgb_icc[16:20] = b"RGB "
    q = tmp_path / "rgb.png"
    Image.fromarray(crop[:64, :64]).save(q, icc_profile=bytes(rgb_icc))  # a matching profile is kept
    assert nic("encode", str(q), "-o", str(tmp_path / "r.nic"), "-q", "10").returncode == 0
    assert bitstream.read((tmp_path / "r.nic").read_bytes()).icc == bytes(rgb_icc)


def test_too_many_chunks_are_refused_fast_and_info_stays_short(crop):
    data = hific_codec.encode(crop, 10)
    version, chunks = bitstream.unpack_chunks(data)
    flood = pack_chunks(chunks + [Chunk("junk", b"")] * (MAX_CHUNKS + 10), version)
    t = time.perf_counter()
    with pytest.raises(FormatError, match=f"more than {MAX_CHUNKS} chunks"):
        hific_codec.decode(flood)
    assert time.perf_counter() - t < 1
    from hific_codec.cli import chunk_summary

    some = pack_chunks(chunks + [Chunk("junk", b"xy")] * 500, version)
    line = chunk_summary(hific_codec.info(some).chunks)
    assert "junk x 500 (1000 B)" in line and len(line) < 200


def test_alpha_chunk_is_checked_before_the_synthesis(crop, monkeypatch):
    rgba = np.dstack([crop, np.full(crop.shape[:2], 200, np.uint8)])
    f = bitstream.read(hific_codec.encode(rgba, 10))
    broken = bitstream.write(NicFile(f.header, f.z_stream, f.y_streams, alpha=b"not zlib"), min_version=(1, 4))
    from hific_codec import codec

    def no_synthesis(*a, **k):
        raise AssertionError("synthesis ran before the alpha plane was checked")

    monkeypatch.setattr(codec, "synthesise", no_synthesis)
    with pytest.raises(FormatError, match="alpha"):
        hific_codec.decode(broken)
    monkeypatch.undo()
    rgb = bitstream.read(hific_codec.encode(crop, 10))
    stray = bitstream.write(NicFile(rgb.header, rgb.z_stream, rgb.y_streams, alpha=b"not zlib"), min_version=(1, 4))
    assert np.array_equal(hific_codec.decode(stray), hific_codec.decode(bitstream.write(rgb, min_version=(1, 4))))


def test_chunk_length_limit_matches_the_spec():
    from bitstream import container

    assert container.MAX_CHUNK_BYTES == (1 << 28) - 1
    assert len(container._uleb128(container.MAX_CHUNK_BYTES)) == 4  # the most a reader accepts
