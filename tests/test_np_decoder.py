"""The torch-free fidelity decoder: the same latents as the torch coder's, pixels within the
cross-machine tolerance of the torch synthesis, and a decode that never imports torch."""
import subprocess
import sys

import numpy as np
import pytest

import bitstream
import hific_codec
from hific_codec import codec, np_decoder, qmap, zoo

from .conftest import ROOT


def _torch_decode(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    f = bitstream.read(data)
    h = f.header
    m = codec.load(model_id=h.model_id)
    y = codec.decode_latents(m, h.height, h.width, f.z_stream, f.y_streams, f.tiles)
    qm = None if f.qmap is None else qmap.from_bytes(f.qmap, h.height, h.width)
    return y[0].numpy(), codec.synthesise(m, y, h.quality, h.height, h.width, qmap=qm)


def _within_tolerance(a: np.ndarray, b: np.ndarray) -> None:
    d = np.abs(a.astype(int) - b)
    assert d.max() <= 1 and (d > 0).mean() <= 1e-3, (d.max(), (d > 0).mean())


@pytest.mark.parametrize("model_id", [4, 5, 8])
def test_latents_exact_and_pixels_within_tolerance_of_torch(crop, model_id):
    name = zoo.by_id(model_id).name
    data = hific_codec.encode(crop, 40, model=name)
    f = bitstream.read(data)
    h = f.header
    y_ref, px_ref = _torch_decode(data)
    y, px = np_decoder.decode(h.model_id, h.height, h.width, h.quality, f.z_stream, f.y_streams, f.tiles)
    assert np.array_equal(y[0].astype(np.float32), y_ref)
    _within_tolerance(px_ref, px)
    assert np.array_equal(hific_codec.decode(data), px)  # the API's fidelity decoder is this one


def test_quality_map_and_coding_tiles(kodim23):
    """A file with a quality map (gains per latent) and more than one coding tile (> 1024 px)."""
    img = np.concatenate([kodim23, kodim23[:, ::-1]], axis=1)[:, :1100]  # 512 x 1100: two tiles wide
    mask = np.zeros(img.shape[:2], bool)
    mask[100:300, 200:700] = True
    data = hific_codec.encode(img, 30, roi=mask, roi_quality=80)
    f = bitstream.read(data)
    assert f.qmap is not None and f.tiles is not None
    _within_tolerance(_torch_decode(data)[1], hific_codec.decode(data))


def test_realism_knob_zero_is_this_decoder(crop):
    data = hific_codec.encode(crop, 30)
    assert np.array_equal(hific_codec.decode(data, decoder="realism", realism=0.0), hific_codec.decode(data))


COLD = r"""
import sys, numpy as np, hific_codec
out = hific_codec.decode(open(sys.argv[1], "rb").read())
print(out.shape, "torch" in sys.modules)
# peak resident memory of this program (getrusage's maxrss would include the forking parent's)
print(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM")))  # KB
"""


def test_a_decode_never_imports_torch(tmp_path, crop):
    path = tmp_path / "a.nic"
    path.write_bytes(hific_codec.encode(crop[:40, :50], 50))
    out = subprocess.run([sys.executable, "-c", COLD, str(path)], check=True, capture_output=True, text=True,
                         cwd=ROOT).stdout.split("\n")
    assert out[0] == "(40, 50, 3) False"
    assert int(out[1]) < 300_000  # KB: the cold-start budget (measured: 95 MB; with torch it was 750 MB)
    png = tmp_path / "a.png"
    cli = ("import sys, hific_codec.cli as c; rc = c.main(['decode', sys.argv[1], '-o', sys.argv[2]]); "
           "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)")
    subprocess.run([sys.executable, "-c", cli, str(path), str(png)], check=True, cwd=ROOT)
    assert png.stat().st_size > 0


def test_decodes_in_several_threads_at_once_equal_one_alone(crop):
    """The one-thread BLAS setting is shared by concurrent decodes and restored after the last."""
    from concurrent.futures import ThreadPoolExecutor

    from hific_codec.models import npconv

    data = [hific_codec.encode(crop, q) for q in (20, 60)]
    alone = [hific_codec.decode(d) for d in data]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(hific_codec.decode, data * 3))
    assert all(np.array_equal(g, alone[k % 2]) for k, g in enumerate(got))
    blas = npconv._openblas()
    if blas is not None:
        assert npconv._inside == 0 and blas[0]() == npconv._saved  # BLAS's own setting is back
