"""Weights load only from safetensors whose SHA-256 matches the manifest; no pickle in any load path."""
import re
import shutil

import pytest

from bitstream import FormatError
from hific_codec import zoo

from .conftest import ROOT


def test_shipped_weights_match_their_manifest_hashes():
    for e in zoo.entries().values():
        assert zoo.verified_bytes(e)[:8]  # raises if the file was changed


def test_tampered_weights_are_refused(tmp_path, monkeypatch):
    e = zoo.entries()[zoo.DEFAULT_MODEL]
    shutil.copy(e.path, tmp_path / e.file)
    data = bytearray((tmp_path / e.file).read_bytes())
    data[len(data) // 2] ^= 1
    (tmp_path / e.file).write_bytes(bytes(data))
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(FormatError, match="damaged or replaced"):
        zoo.verified_bytes(e)
    (tmp_path / e.file).unlink()
    with pytest.raises(FormatError, match="missing"):
        zoo.verified_bytes(e)


def test_no_pickle_in_the_codec_or_format_code():
    """torch.load / pickle / np.load(allow_pickle) can run code from a file: none in the packages
    that open user files or shipped weights.  The one exception is torch.load(weights_only=True),
    the restricted unpickler that rebuilds tensors only, for the third-party EfficientNet-Lite0
    .pth (training and metrics only, after a pinned SHA-256 check)."""
    bad = re.compile(r"torch\.load\((?![^)]*weights_only=True)|import pickle|pickle\.load|allow_pickle\s*=\s*True|import dill")
    for pkg in ("hific_codec", "bitstream"):
        for f in (ROOT / pkg).rglob("*.py"):
            code = "\n".join(line for line in f.read_text().splitlines() if not line.lstrip().startswith("#"))
            assert not bad.search(code), f


def test_shipped_weights_stay_within_the_40_mb_budget():
    """Issue 4's budget for all shipped weights together; every file is in the manifest (no strays)."""
    files = {p.name for p in zoo.WEIGHTS_DIR.glob("*.safetensors")}
    assert files == {e.file for e in zoo.entries().values()} | {e.context["file"] for e in zoo.entries().values() if e.context}
    assert sum((zoo.WEIGHTS_DIR / f).stat().st_size for f in files) <= 40e6
