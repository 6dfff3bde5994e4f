"""Short runs of the coverage-guided fuzzer (tests/fuzz.py) and a replay of the committed corpus.

The long run (>= 100,000 inputs per target) is `python -m tests.fuzz --target decoder --runs 100000`;
its last result is committed in benchmarks/results/fuzz/.
"""
import json
import subprocess
import sys
import time

import pytest

import hific_codec
from bitstream import FormatError

from .conftest import ROOT
from .fuzz import CORPUS, FUZZ_MAX_PIXELS, HANG_SECONDS

pytest.importorskip("atheris")


@pytest.mark.parametrize("target,runs", [("parser", 3000), ("decoder", 800), ("salvage", 300)])
def test_short_fuzz_run_finds_nothing(tmp_path, target, runs):
    cmd = [sys.executable, "-m", "tests.fuzz", "--target", target, "--runs", str(runs), "--report", str(tmp_path)]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads((tmp_path / f"{target}.json").read_text())
    assert report["inputs"] == runs and report["slowest_input_s"] < HANG_SECONDS
    # the mutator reaches past the checksums: some mutants decode, many fail deep in the decoder
    assert report["outcomes"].get("decoded", 0) > 0
    assert len(report["outcomes"]) > 10
    if target != "salvage":  # salvage mode tolerates CRC failures outside HEAD/TILE by design
        assert any("CRC" in k for k in report["outcomes"])


def test_committed_corpus_decodes_or_fails_cleanly(crop):
    files = [p for p in CORPUS.iterdir() if p.is_file()]
    assert len(files) >= 20
    hific_codec.decode(hific_codec.encode(crop[:16, :16], 50))  # load the model outside the timing
    for p in files:
        t0 = time.perf_counter()
        try:
            hific_codec.decode(p.read_bytes(), max_pixels=FUZZ_MAX_PIXELS)
        except FormatError:
            pass
        assert time.perf_counter() - t0 < HANG_SECONDS, p.name
