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
    """The 40 MB budget for all shipped weights together; every file is in the manifest (no strays)."""
    from hific_codec.overfit import start

    files = {p.name for p in zoo.WEIGHTS_DIR.glob("*.safetensors")}
    assert files == ({e.file for e in zoo.entries().values()} | {e.context["file"] for e in zoo.entries().values() if e.context}
                     | {start.FILE.name})  # the overfitted encoder's starting networks (hash pinned in start.py)
    assert sum((zoo.WEIGHTS_DIR / f).stat().st_size for f in files) <= 40e6


def test_z_tables_leave_no_channel_without_its_neighbours():
    """A channel trained on z near 0 has almost no density at +-1; its table must still code +-1
    (model 7's first export escaped 78 such values on kodim23 at q20, 5% of the file)."""
    import torch

    from hific_codec.models.hyperprior import HyperpriorConfig, MeanScaleHyperprior
    from hific_codec.train.export import Z_LEAK, Z_SPAN, z_tables

    net = MeanScaleHyperprior(HyperpriorConfig(N=8, M=8))
    eb = net.entropy_bottleneck
    with torch.no_grad():  # squeeze channel 0's density into (-0.5, 0.5): the steep-CDF case
        for m in eb.matrices:
            m[0].mul_(0).add_(10.0)
    t = z_tables(net)
    offsets, lengths, pmf = t["z_tables.offsets"], t["z_tables.lengths"], t["z_tables.pmf"]
    assert (offsets <= -Z_SPAN).all() and (offsets + lengths - 2 >= Z_SPAN).all()  # last entry: escape
    for c in range(len(offsets)):
        body = pmf[c, : lengths[c] - 1]
        assert body.min() >= Z_LEAK / len(body) * 0.999 and abs(body.sum() - 1) < 1e-3
