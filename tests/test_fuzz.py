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
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
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


def test_mutator_builds_valid_per_tile_streams_and_tiny_tiles_are_refused_fast():
    import random

    from . import fuzz

    variants = fuzz.tiled_variants()
    fuzz._TILED[:] = variants
    # seeds whose first draw picks the tiling operation (atheris' own mutators need its fuzzing
    # loop, so only this operation runs in-process)
    picks = [s for s in range(400) if random.Random(s).randrange(11) == 10]
    try:
        outs = {fuzz.mutate(variants[0], 1 << 20, seed) for seed in picks}
    finally:
        fuzz._TILED.clear()
    assert set(variants) <= outs  # the mutator hands out every grid
    decoded = 0
    for data in variants:
        t0 = time.perf_counter()
        try:
            hific_codec.decode(data, max_pixels=FUZZ_MAX_PIXELS)
            decoded += 1
        except FormatError as e:
            assert "at least" in str(e)  # the tile-size floor
        assert time.perf_counter() - t0 < HANG_SECONDS
    assert decoded == 1  # the 512-px grid is legal and its streams are valid
