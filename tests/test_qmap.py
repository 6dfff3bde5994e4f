"""Quality maps (format 1.6): regions of interest and adaptive quantisation, their chunk, and the
files without one, which must code exactly as before."""
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

import bitstream
import hific_codec
from bitstream import ChecksumError, FormatError
from bitstream.container import Chunk, pack_chunks, unpack_chunks
from bitstream.nicfile import qmap_shape
from hific_codec import codec, qmap

from .conftest import ROOT


def region_psnr(a, b, sel):
    return 10 * np.log10(255**2 / np.mean((a[sel].astype(np.float64) - b[sel]) ** 2))


def test_a_uniform_map_codes_exactly_as_no_map(crop):
    m = codec.load()
    a = codec.analyse(m, crop)
    flat = np.full(qmap_shape(*crop.shape[:2]), 37.5)
    assert codec.code(m, a, 37.5) == codec.code(m, a, 37.5, None, flat)


def test_roi_spends_the_bits_inside_at_equal_size(crop):
    h, w = crop.shape[:2]
    box = (64, 48, 128, 96)  # a quarter of the crop
    inside = np.zeros((h, w), dtype=bool)
    inside[48:144, 64:192] = True
    uni = hific_codec.encode(crop, 30)
    roi = hific_codec.encode(crop, bpp=len(uni) * 8 / (h * w), roi=[box], roi_quality=60)
    assert len(roi) <= len(uni)
    du, dr = hific_codec.decode(uni), hific_codec.decode(roi)
    assert region_psnr(crop, dr, inside) > region_psnr(crop, du, inside) + 1.0
    assert region_psnr(crop, dr, ~inside) < region_psnr(crop, du, ~inside)
    i = hific_codec.info(roi)
    assert i.version == (1, 6) and i.quality_range[1] == 60 and i.quality_range[0] == i.quality < 30
    assert [t for t, _ in i.chunks][:2] == ["HEAD", "QMAP"]


@pytest.mark.parametrize("shape,mask", [
    ((1, 1), None), ((17, 33), None), ((192, 256), "double"), ((192, 256), "quarter"), ((70, 1100), "boxes")])
def test_maps_of_every_shape_round_trip(kodim23, shape, mask):
    h, w = shape
    img = np.ascontiguousarray(np.tile(kodim23, (1, 2, 1))[:h, :w])  # 1100 wide: coded in tiles
    roi = {None: np.ones((h, w), np.uint8), "double": np.ones((2 * h, 2 * w)),
           "quarter": np.pad(np.ones((h // 8, w // 8)), ((0, h // 8), (0, w // 8))),
           "boxes": [(-10, -10, 40, 30), (1000, 50, 500, 500)]}[mask]  # boxes partly outside the image
    data = hific_codec.encode(img, 20, roi=roi, roi_quality=70)
    f = bitstream.read(data)
    assert len(f.qmap) == np.prod(qmap_shape(h, w))
    out = hific_codec.decode(data)
    assert out.shape == img.shape
    got = qmap.from_bytes(f.qmap, h, w)
    assert got.max() == 70 and (mask is not None or got.min() == 70)  # a full mask is all inside


def test_grey_and_rgba_with_a_map_and_the_realism_decoder(crop):
    rgba = np.dstack([crop, np.full(crop.shape[:2], 200, np.uint8)])
    out = hific_codec.decode(hific_codec.encode(rgba, 20, roi=[(0, 0, 100, 100)]))
    assert out.shape == rgba.shape and (out[..., 3] == 200).all()
    grey = crop[..., 1]
    assert hific_codec.decode(hific_codec.encode(grey, 20, aq=True)).shape == grey.shape
    data = hific_codec.encode(crop, 10, roi=[(0, 0, 128, 96)])
    fid, real = hific_codec.decode(data), hific_codec.decode(data, realism=1.0)
    assert fid.shape == real.shape and np.abs(fid.astype(int) - real).mean() > 0.5


def test_batch_decode_of_mixed_files_matches_one_by_one(crop):
    files = [hific_codec.encode(crop, 20, roi=[(0, 0, 64, 64)]), hific_codec.encode(crop, 20),
             hific_codec.encode(crop, 40, aq=True)]
    for got, data in zip(hific_codec.decode_batch(files), files):
        assert np.array_equal(got, hific_codec.decode(data))


def test_bad_options_are_refused(crop):
    with pytest.raises(ValueError, match="empty"):
        hific_codec.encode(crop, 20, roi=np.zeros((10, 10)))
    with pytest.raises(ValueError, match="effort 0"):
        hific_codec.encode(crop, 20, roi=[(0, 0, 8, 8)], effort=1)
    with pytest.raises(ValueError, match="not both"):
        hific_codec.encode(crop, 20, roi=[(0, 0, 8, 8)], aq=True)
    with pytest.raises(ValueError, match="needs a roi"):
        hific_codec.encode(crop, 20, roi_quality=50)
    with pytest.raises(ValueError, match="positive"):
        hific_codec.encode(crop, 20, roi=[(0, 0, 0, 8)])


def _with_qmap(data: bytes, payload: bytes, version=None) -> bytes:
    v, chunks = unpack_chunks(data)
    chunks = [c for c in chunks if c.type != "QMAP"]
    chunks.insert(1, Chunk("QMAP", payload))
    return pack_chunks(chunks, version or v)


def test_hostile_quality_maps_are_refused(crop):
    good = hific_codec.encode(crop, 20, roi=[(0, 0, 64, 64)])
    n = int(np.prod(qmap_shape(*crop.shape[:2])))
    with pytest.raises(FormatError, match="QMAP chunk in a version 1.5"):
        bitstream.read(_with_qmap(good, zlib.compress(bytes(n)), (1, 5)))
    for payload in (zlib.compress(bytes(n - 1)), zlib.compress(bytes(n + 1)), b"garbage", zlib.compress(bytes(n))[:-3]):
        with pytest.raises(FormatError, match="QMAP|quality map"):
            hific_codec.decode(_with_qmap(good, payload))
    with pytest.raises(FormatError, match="above 200"):
        hific_codec.decode(_with_qmap(good, zlib.compress(bytes([201]) * n)))
    raw = bytearray(good)
    at = bytes(raw).index(b"QMAP") + 6
    raw[at] ^= 0xFF  # inside the map's payload: its CRC fails
    with pytest.raises(ChecksumError, match="QMAP"):
        hific_codec.decode(bytes(raw), verify=False)  # never decoded from a damaged map, even in salvage mode


def test_cli_roi_boxes_and_mask(crop, tmp_path):
    src = tmp_path / "c.png"
    Image.fromarray(crop).save(src)
    mask = tmp_path / "m.png"
    Image.fromarray((np.arange(64)[None, :].repeat(32, 0) > 40).astype(np.uint8) * 255).save(mask)

    def nic(*args):
        return subprocess.run([sys.executable, "-m", "hific_codec", *args], capture_output=True, cwd=ROOT, check=False)

    for spec in ("10,10,50,40,100,100,20,20", str(mask)):
        out = tmp_path / "r.nic"
        r = nic("encode", str(src), "-o", str(out), "-q", "20", "--roi", spec, "--roi-quality", "55", "-f")
        assert r.returncode == 0, r.stderr
        assert b"quality map: 20 to 55" in nic("info", str(out)).stdout
    for bad, msg in (("1,2,3", b"no such file"), ("1,2,3,4,5", b"four numbers"), ("a,b,c,d", b"expected a mask")):
        r = nic("encode", str(src), "-o", str(tmp_path / "x.nic"), "--roi", bad)
        assert r.returncode == 1 and msg in r.stderr and b"Traceback" not in r.stderr
