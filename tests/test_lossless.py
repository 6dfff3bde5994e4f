"""Lossless coding (format 1.7, chunk PIXL): exact round trips, exact on every machine, and refusals."""
from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import bitstream
import hific_codec
from bitstream import FormatError
from hific_codec.lossless import codec, context, exact
from hific_codec.lossless.model import LosslessConfig

from .conftest import ROOT, decodes_or_refuses, scrambled
from .make_golden import HERE, lossless_cases

FAST = LosslessConfig(hidden=8, iterations=40)


@pytest.fixture(scope="module")
def cases():
    return lossless_cases()


@pytest.mark.parametrize("name", ["crop48x64", "grey33x17", "rgba40x48"])
def test_golden_files_decode_to_their_source_exactly(cases, name):
    """Committed files, written once: their decode is the source, bit for bit, here and on every
    machine CI runs on (the decoder's arithmetic is exact integers)."""
    data = (HERE / f"ll_{name}.nic").read_bytes()
    out = hific_codec.decode(data)
    assert out.dtype == np.uint8 and out.shape == cases[name].shape
    assert np.array_equal(out, cases[name])
    i = hific_codec.info(data)
    assert i.mode == "lossless" and i.version == (1, 7) and i.weight_bytes > 0


def test_round_trips_are_exact_and_beat_png_on_a_photo(kodim23):
    rgb = np.ascontiguousarray(kodim23[100:228, 200:392])  # 128x192: parrot heads, real detail
    data = hific_codec.encode(rgb, lossless=True)
    assert np.array_equal(hific_codec.decode(data), rgb)
    png = io.BytesIO()
    Image.fromarray(rgb).save(png, format="PNG", optimize=True, compress_level=9)
    assert len(data) < 0.9 * len(png.getvalue())


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 7, 1), (5, 1, 3), (9, 13, 4), (2, 2, 1)])
def test_odd_sizes_round_trip(kodim23, shape):
    h, w, c = shape
    a = np.ascontiguousarray(kodim23[200 : 200 + h, 300 : 300 + w, : min(c, 3)])
    if c == 4:
        a = np.dstack([a, np.arange(h * w, dtype=np.uint8).reshape(h, w)])
    p = codec.encode(a, FAST).payload
    assert np.array_equal(codec.decode(p, h, w), a)


def test_one_pixel_through_the_api(kodim23):
    for a in (kodim23[:1, :1], kodim23[:1, :1, 0]):
        assert np.array_equal(hific_codec.decode(hific_codec.encode(a, lossless=True)), a)


def test_the_same_image_gives_the_same_file(kodim23):
    """The fit's random start is seeded (without touching the caller's RNG)."""
    import torch

    a = np.ascontiguousarray(kodim23[120:152, 220:260])
    first = codec.encode(a, FAST).payload
    torch.rand(5)  # the caller's RNG elsewhere
    state = torch.random.get_rng_state()
    assert codec.encode(a, FAST).payload == first
    assert torch.equal(torch.random.get_rng_state(), state)  # and the encoder left it where it was


def test_extreme_pixels_escape_and_still_decode_exactly():
    """Noise and saturated blocks: residuals far outside the Laplace tables' support are escaped."""
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    a[:8] = 255
    a[8:12, :, 1] = 0
    a[12:, :20] = np.where(rng.random((12, 20, 1)) < 0.5, 0, 255)
    p = codec.encode(a, FAST).payload
    assert np.array_equal(codec.decode(p, 24, 40), a)


def test_wavefronts_respect_the_causal_context():
    """Every causal neighbour (after edge replacement) lies on an earlier wavefront, and raster order."""
    for h, w, r in ((5, 9, 2), (7, 4, 3), (1, 6, 4), (6, 1, 3)):
        slots = context.neighbour_slots(h, w, r)
        t = np.full(h * w + 1, -1)
        for k, f in enumerate(context.wavefronts(h, w, r)):
            t[f] = k
        own = np.arange(h * w)
        real = slots < h * w
        assert (t[slots][real] < np.repeat(t[:-1], slots.shape[1]).reshape(slots.shape)[real]).all()
        assert (slots[real] < np.repeat(own, slots.shape[1]).reshape(slots.shape)[real]).all()
        assert (slots == h * w).sum() == slots.shape[1]  # only the first pixel reads the EDGE slot


def test_exact_model_refuses_weights_that_could_leave_exact_range():
    from bitstream.lossless import causal_count

    n = causal_count(2)
    h = 4
    big = exact.PlaneWeights(np.full(n + 1, 1 << 14), (np.full((h, n + 6), 30000), np.zeros(h), np.full((h, h), 30000),
                                                      np.zeros(h), np.full((2, h), 30000), np.zeros(2)), 0)
    with pytest.raises(FormatError, match="exact"):
        exact.ExactPlaneModel(big, n)


def test_decode_is_the_same_with_1_and_2_threads():
    script = ("import os, sys; os.environ['OMP_NUM_THREADS'] = os.environ['OPENBLAS_NUM_THREADS'] = sys.argv[1]; "
              "import hashlib, hific_codec; d = open(sys.argv[2], 'rb').read(); "
              "print(hashlib.md5(hific_codec.decode(d).tobytes()).hexdigest())")
    f = HERE / "ll_crop48x64.nic"
    got = {subprocess.run([sys.executable, "-c", script, t, str(f)], check=True, capture_output=True, cwd=ROOT,
                          text=True).stdout for t in ("1", "2")}
    assert len(got) == 1


@pytest.mark.parametrize("cut", [0, 3, 30, -9])
def test_damaged_payloads_are_refused_cleanly(cut):
    data = (HERE / "ll_crop48x64.nic").read_bytes()
    f = bitstream.read(data)
    broken = f.lossless[:cut] if cut >= 0 else f.lossless[:cut] + bytes(9)
    bad = bitstream.write(bitstream.NicFile(f.header, b"", (), lossless=broken))
    try:
        out = hific_codec.decode(bad)
        assert out.shape == (48, 64, 3)  # a damaged pixel stream may still decode (to other pixels)
    except FormatError:
        pass


def test_random_payloads_never_crash_and_crc_damage_is_refused():
    data = (HERE / "ll_rgba40x48.nic").read_bytes()
    f = bitstream.read(data)
    rng = np.random.default_rng(7)
    for _ in range(30):
        decodes_or_refuses(bitstream.write(bitstream.NicFile(f.header, b"", (), lossless=scrambled(f.lossless, rng))))
    flipped = bytearray(data)
    flipped[60] ^= 1  # inside PIXL, CRC left as it was
    with pytest.raises(FormatError, match="PIXL"):
        hific_codec.decode(bytes(flipped), verify=False)  # a lossless file is never decoded from damage


def test_chunk_rules_and_versions():
    from bitstream import Header, NicFile

    h0 = Header(8, 8, 3, 0, b"\0" * 4, 100)
    with pytest.raises(FormatError, match="PIXL"):
        NicFile(Header(8, 8, 3, 5, b"\0" * 4, 100), b"", (), lossless=b"x")
    with pytest.raises(FormatError, match="alpha"):
        NicFile(h0, b"", (), lossless=b"x", alpha=b"a")
    data = (HERE / "ll_crop48x64.nic").read_bytes()
    assert data[4:6] == bytes([1, 7])
    with pytest.raises(FormatError, match="version 1.6"):
        bitstream.read(bitstream.pack_chunks(bitstream.unpack_chunks(data)[1], (1, 6)))
    grey = (HERE / "ll_grey33x17.nic").read_bytes()
    f = bitstream.read(grey)
    wrong = bitstream.write(NicFile(Header(17, 33, 3, 0, b"\0" * 4, 100), b"", (), lossless=f.lossless))
    with pytest.raises(FormatError, match="plane count"):
        hific_codec.decode(wrong)


def test_refusals_are_clear(kodim23):
    small = np.ascontiguousarray(kodim23[:16, :16])
    with pytest.raises(ValueError, match="16 bits"):
        hific_codec.encode(small.astype(np.uint16) * 257, lossless=True)
    for kw in ({"quality": 50}, {"bpp": 1.0}, {"effort": 3}, {"aq": True}, {"realism": 0.5}):
        with pytest.raises(ValueError, match="lossless coding takes no"):
            hific_codec.encode(small, lossless=True, **kw)
    with pytest.raises(FormatError, match="one decoder"):
        hific_codec.decode((HERE / "ll_crop48x64.nic").read_bytes(), decoder="realism")


def test_cli_pillow_and_batch(tmp_path, cases):
    rgb = cases["crop48x64"]
    src = tmp_path / "a.png"
    Image.fromarray(rgb).save(src)
    out = tmp_path / "a.nic"
    r = subprocess.run([sys.executable, "-m", "hific_codec", "encode", str(src), "-o", str(out), "--lossless",
                        "--quiet"], check=False, capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "lossless" in r.stderr and np.array_equal(hific_codec.decode(out.read_bytes()), rgb)
    deep = tmp_path / "deep.png"
    Image.fromarray(rgb[:, :, 0].astype(np.uint16) * 257).save(deep)
    r = subprocess.run([sys.executable, "-m", "hific_codec", "encode", str(deep), "--lossless"], check=False,
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode != 0 and "16 bits" in r.stderr and "Traceback" not in r.stderr
    assert not deep.with_suffix(".nic").exists()
    buf = io.BytesIO()
    Image.fromarray(cases["rgba40x48"]).save(buf, format="NIC", lossless=True)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(buf.getvalue()))), cases["rgba40x48"])
    with pytest.raises(ValueError, match="would lose values"):
        Image.fromarray(rgb[:, :, 0].astype(np.uint16) * 257).save(io.BytesIO(), format="NIC", lossless=True)
    from hific_codec import batch

    (tmp_path / "in").mkdir()
    Image.fromarray(cases["grey33x17"]).save(tmp_path / "in" / "g.png")
    tasks = batch.plan(str(tmp_path / "in"), str(tmp_path / "out"), "encode", lossless=True)
    recs, _ = batch.run(tasks, quiet=True)
    assert [r.status for r in recs] == ["ok"]
    got = hific_codec.decode((tmp_path / "out" / "g.nic").read_bytes())
    assert np.array_equal(got, cases["grey33x17"])
    again, _ = batch.run(batch.plan(str(tmp_path / "in"), str(tmp_path / "out"), "encode", lossless=True), quiet=True)
    assert [r.status for r in again] == ["done-before"]


def test_decode_batch_takes_lossless_files_among_others(cases):
    data = [(HERE / f"ll_{n}.nic").read_bytes() for n in ("crop48x64", "grey33x17")]
    lossy = hific_codec.encode(cases["crop48x64"], 40)
    got = hific_codec.decode_batch([data[0], lossy, data[1]])
    assert np.array_equal(got[0], cases["crop48x64"]) and np.array_equal(got[2], cases["grey33x17"])
    assert np.array_equal(got[1], hific_codec.decode(lossy))
