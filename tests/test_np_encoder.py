"""The torch-free effort-0 encoder: the same streams as the codec pipeline's (one implementation),
and an encode that never imports torch."""
import subprocess
import sys

import numpy as np

import bitstream
import hific_codec
from hific_codec import codec

from .conftest import ROOT


def test_effort_0_streams_are_the_codec_pipelines(kodim23):
    img = np.concatenate([kodim23, kodim23], axis=1)[:, :1100]  # two coding tiles wide
    m = codec.load()
    a = codec.analyse(m, img)
    tiles = codec.coding_tiles(*img.shape[:2])
    for q in (5.0, 70.0):
        f = bitstream.read(hific_codec.encode(img, q))
        assert f.tiles is not None and (f.z_stream, f.y_streams) == codec.code(m, a, q, tiles)


COLD = r"""
import sys, numpy as np, bitstream, hific_codec
from PIL import Image
rgb = np.asarray(Image.open(sys.argv[1]).convert("RGB"))[:96, :128]
a = hific_codec.encode(rgb, 40)
b = hific_codec.encode(rgb, bpp=0.5)
c = hific_codec.encode(rgb, 40, aq=True)
print(bitstream.read(a).qmap is None, len(b) * 8 <= 0.5 * 96 * 128, bitstream.read(c).qmap is not None,
      "torch" in sys.modules)
print(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM")))  # KB
"""


def test_an_effort_0_encode_never_imports_torch():
    out = subprocess.run([sys.executable, "-c", COLD, str(ROOT / "assets" / "kodim23.png")], check=True,
                         capture_output=True, text=True, cwd=ROOT).stdout.split("\n")
    assert out[0] == "True True True False"
    assert int(out[1]) < 300_000  # KB (with torch: about 800 MB)
