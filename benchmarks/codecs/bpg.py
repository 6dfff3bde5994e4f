"""BPG (HEVC intra, 4:4:4, x265): the reference codec of the HiFiC paper, via the bpgenc/bpgdec binaries.

Found on PATH, in $BPG_DIR, or in ../shared/tools/bpg.  To get them elsewhere: build libbpg
(https://bellard.org/bpg/) with x265, or `apt install libbpg` where packaged.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..datasets import REPO
from . import register
from .base import Codec, CodecUnavailable


def _find(tool: str) -> str | None:
    for d in (os.environ.get("BPG_DIR"), str(REPO.parent / "shared" / "tools" / "bpg")):
        if d and (Path(d) / tool).is_file():
            return str(Path(d) / tool)
    return shutil.which(tool)


@dataclass
class BpgCodec(Codec):
    def check(self) -> None:
        self.enc, self.dec = _find("bpgenc"), _find("bpgdec")
        if not (self.enc and self.dec):
            raise CodecUnavailable("bpgenc/bpgdec not found: put them on PATH or set BPG_DIR (see docs/benchmarks.md)")

    def encode(self, rgb: np.ndarray, q) -> bytes:
        if min(rgb.shape[:2]) < 64:
            raise CodecUnavailable("x265 in bpgenc needs images of at least 64x64")
        with tempfile.TemporaryDirectory() as d:
            src, out = Path(d) / "in.png", Path(d) / "out.bpg"
            Image.fromarray(rgb).save(src, compress_level=0)
            subprocess.run([self.enc, "-o", str(out), "-q", str(q), "-f", "444", "-e", "x265", "-c", "ycbcr",
                            "-b", "8", str(src)], check=True, capture_output=True)
            return out.read_bytes()

    def decode(self, data: bytes) -> np.ndarray:
        with tempfile.TemporaryDirectory() as d:
            src, out = Path(d) / "in.bpg", Path(d) / "out.ppm"
            src.write_bytes(data)
            subprocess.run([self.dec, "-o", str(out), str(src)], check=True, capture_output=True)
            return np.asarray(Image.open(io.BytesIO(out.read_bytes())).convert("RGB"))


@register("bpg")
def bpg() -> Codec:
    return BpgCodec("bpg", "BPG 4:4:4 (libbpg 0.9.8, x265, YCbCr 8 bit)", (24, 28, 32, 36, 38, 40, 42, 44, 47))
