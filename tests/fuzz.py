"""Coverage-guided fuzzing (atheris / libFuzzer) of the container parser and the full decoder.

    python -m tests.fuzz --target decoder --runs 100000   # the documented long run
    python -m tests.fuzz --target parser --runs 100000
    python -m tests.fuzz --target salvage --runs 20000    # decode(verify=False): damaged files

Inputs derive from valid files: seeds are encoded at start with the shipped weights (RGB, grey,
RGBA, 1x1, a tiled 1.1 file, ICC/EXIF, overfitted 1.8 and 1.5 files, a 1.6 quality map, a 1.7
lossless file), plus the committed corpus in ``tests/fuzz_corpus/``.
A structure-aware mutator changes one chunk's payload, a header field (absurd sizes, unknown
models, ...), the tile layout, the version, or the chunk list (drop, duplicate, swap), and usually
re-seals the CRCs so that mutants get past the checksums into the entropy decoder and the
synthesis; a share of mutations is raw libFuzzer byte mutation with the CRCs left broken.

Allowed outcomes per input: a decoded image, or ``bitstream.FormatError`` (the project's format
error, with a message).  Any other exception is a crash (libFuzzer stops and writes the input to
``runs/fuzz/``); an input taking over 2 s is a hang (``-timeout=2``); the process RSS is capped by
``-rss_limit_mb``.  The decoder runs with ``max_pixels=FUZZ_MAX_PIXELS``: decode time is linear
in the padded pixel count, so the cap is what bounds time per input, as in any image service.
Statistics go to ``benchmarks/results/fuzz/<target>.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import struct
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "fuzz_corpus"
RESULTS = ROOT / "benchmarks" / "results" / "fuzz"
FUZZ_MAX_PIXELS = 1 << 18  # padded pixels per decoded input (512x512): ~0.5 s worst case on 2 cores
HANG_SECONDS = 2.0

stats: Counter = Counter()
slowest = [0.0]
target_name = "parser"
total_runs = 0
report_dir = RESULTS
t_start = time.time()


def seeds() -> dict[str, bytes]:
    """Small valid files covering every chunk type and both format versions."""
    import numpy as np
    from PIL import Image

    import hific_codec

    rgb = np.asarray(Image.open(ROOT / "assets" / "kodim23.png").convert("RGB"))
    rgba = np.dstack([rgb[:24, :40], (np.arange(960) % 256).astype(np.uint8).reshape(24, 40)])
    return {
        "rgb48x64_q30": hific_codec.encode(rgb[200:248, 300:364], 30),
        "grey20x33_q80": hific_codec.encode(rgb[300:320, 500:533, 1], 80),
        "rgba24x40_q10": hific_codec.encode(rgba, 10),
        "tiny1x1_q100": hific_codec.encode(rgb[:1, :1], 100),
        "meta32x32_q50": hific_codec.encode(rgb[:32, :32], 50, icc=b"\0" * 40, exif=b"Exif\0\0MM"),
        "tiled16x1090_q40": hific_codec.encode(rgb[:16, :1090 - 768].repeat(4, axis=1)[:, :1090], 40),
        "overfit24x32_q50": hific_codec.encode(rgb[200:224, 300:332], 50, effort=3, seconds=1),  # 1.8: interleaved
        "overfit15_48x64": (Path(__file__).parent / "golden" / "of_crop48x64_q60.nic").read_bytes(),  # grid by grid
        "roi48x64_q20": hific_codec.encode(rgb[200:248, 300:364], 20, roi=[(8, 8, 24, 16)]),  # 1.6: QMAP
        "iccz32x32_q40": hific_codec.encode(rgb[:32, :32], 40, icc=bytes(range(64)) * 8),  # compressed ICC
        "xmpz32x32_q40": hific_codec.encode(rgb[:32, :32], 40, xmp=b"<x:xmpmeta>" + b"<rdf:li/>" * 30 + b"</x:xmpmeta>"),
        "lossless24x32": hific_codec.encode(rgb[200:224, 300:332], lossless=True),  # 1.7: PIXL
    }


def tiled_variants() -> list[bytes]:
    """One image coded with several tile grids, each tile a valid stream of its own, written past
    the encoder's checks: tiny grids (which readers must refuse fast: each tile has a fixed cost)
    and legal ones.  The mutator swaps these in, so it reaches per-tile streams it could not
    build by mutating bytes."""
    import numpy as np
    from PIL import Image

    from bitstream import Header, TileGrid
    from bitstream.container import Chunk, pack_chunks
    from hific_codec import codec

    rgb = np.asarray(Image.open(ROOT / "assets" / "kodim23.png").convert("RGB"))[:256, :512]
    m = codec.load()
    a = codec.analyse(m, rgb)
    head = Header(rgb.shape[1], rgb.shape[0], 3, m.entry.model_id, m.entry.short_hash, 30.0).to_bytes()
    out = []
    for tw, th in ((64, 64), (64, 128), (128, 256), (512, 512)):
        z, ys = codec.code(m, a, 30.0, TileGrid(tw, th))
        chunks = [Chunk("HEAD", head), Chunk("TILE", struct.pack(">HH", tw, th)), Chunk("ZLAT", z)]
        out.append(pack_chunks(chunks + [Chunk("YLAT", y) for y in ys], m.format_version))
    return out


_TILED: list[bytes] = []


# ---------------------------------------------------------------- mutation
def _seal(chunks, version=(1, 0)) -> bytes:
    from bitstream.container import pack_chunks

    try:
        return pack_chunks(chunks, version)
    except ValueError:  # payload too large for the container: keep it unsealed
        return b""


def mutate(data: bytes, max_size: int, seed: int) -> bytes:
    import atheris

    from bitstream.container import Chunk, FormatError, unpack_chunks

    rng = random.Random(seed)
    try:
        version, chunks = unpack_chunks(data, verify=False)
    except FormatError:
        chunks = []
    op = rng.randrange(11)
    if op == 10 and _TILED:  # a file of valid per-tile streams on some tile grid
        return rng.choice(_TILED)[:max_size]
    if not chunks or op in (0, 10):  # raw bytes, CRCs left as they fall
        return atheris.Mutate(data, max_size)
    k = rng.randrange(len(chunks))
    c = chunks[k]
    if op in (1, 2, 3):  # one chunk's payload, re-sealed: reaches the entropy decoder
        chunks[k] = Chunk(c.type, atheris.Mutate(c.payload, len(c.payload) + 64))
    elif op == 4:  # a header field set to an edge value, re-sealed
        head = next((i for i, x in enumerate(chunks) if x.type == "HEAD"), None)
        if head is not None and len(chunks[head].payload) == 18:
            p = bytearray(chunks[head].payload)
            field = rng.choice([(0, ">I"), (4, ">I"), (8, ">B"), (9, ">H"), (15, ">H"), (17, ">B")])
            edges = [0, 1, 2, 3, 4, 63, 64, 65, 255, 1023, 1024, 1025, 10000, 10001, 32767, 32768, 32769,
                     65535, (1 << 27) // 4096, 1 << 31, (1 << 32) - 1]
            fmt_max = (1 << 8 * struct.calcsize(field[1])) - 1
            struct.pack_into(field[1], p, field[0], min(rng.choice(edges), fmt_max))
            chunks[head] = Chunk("HEAD", bytes(p))
    elif op == 5:
        del chunks[k]
    elif op == 6:
        chunks.insert(rng.randrange(len(chunks) + 1), c)
    elif op == 7:
        j = rng.randrange(len(chunks))
        chunks[k], chunks[j] = chunks[j], chunks[k]
    elif op == 8:  # tile layout: insert or change a TILE chunk
        tile = struct.pack(">HH", rng.choice([0, 1, 64, 128, 960, 1024, 65535]), rng.choice([0, 64, 1024, 4096]))
        t = next((i for i, x in enumerate(chunks) if x.type == "TILE"), None)
        if t is None:
            chunks.insert(1, Chunk("TILE", tile))
            version = (1, 1)
        else:
            chunks[t] = Chunk("TILE", tile)
    else:  # version bytes or truncation
        if rng.random() < 0.5:
            version = (rng.choice([0, 1, 1, 2, 255]), rng.choice([0, 1, 2, 255]))
        else:
            return data[: rng.randrange(len(data) + 1)]
    out = _seal(chunks, version)
    return out[:max_size] if out else atheris.Mutate(data, max_size)


# ---------------------------------------------------------------- targets
def _run_target(data: bytes) -> None:
    import bitstream
    import hific_codec

    if target_name == "parser":
        bitstream.read(data)
    elif target_name == "decoder":
        hific_codec.decode(data, max_pixels=FUZZ_MAX_PIXELS)
    else:
        hific_codec.decode(data, verify=False, max_pixels=FUZZ_MAX_PIXELS)


def test_one_input(data: bytes) -> None:
    from bitstream import FormatError

    t0 = time.perf_counter()
    try:
        _run_target(data)
        stats["decoded"] += 1
    except FormatError as e:
        stats[f"{type(e).__name__}: {_shape(str(e))}"] += 1
    dt = time.perf_counter() - t0
    slowest[0] = max(slowest[0], dt)
    if dt > HANG_SECONDS:
        raise RuntimeError(f"input took {dt:.2f} s (> {HANG_SECONDS} s)")
    n = sum(stats.values())
    if n % 2000 == 0 or n == total_runs:
        write_report(n)


def _shape(msg: str) -> str:
    """Error message with numbers blanked, so counts group by kind."""
    import re

    return re.sub(r"\d+", "N", msg)[:90]


def write_report(n: int) -> None:
    report_dir.mkdir(parents=True, exist_ok=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = {
        "target": target_name, "inputs": n, "crashes": 0, "hangs": 0, "seconds": round(time.time() - t_start, 1),
        "slowest_input_s": round(slowest[0], 3), "peak_rss_mib": round(rss, 1), "max_pixels": FUZZ_MAX_PIXELS,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "outcomes": dict(stats.most_common()),
    }
    (report_dir / f"{target_name}.json").write_text(json.dumps(report, indent=1) + "\n")


def main(argv: list[str] | None = None) -> None:
    global target_name, total_runs, report_dir
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", choices=["parser", "decoder", "salvage"], default="decoder")
    ap.add_argument("--runs", type=int, default=100000)
    ap.add_argument("--rss-limit-mb", type=int, default=3072)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--report", type=Path, default=RESULTS, help="folder for <target>.json")
    ap.add_argument("--keep-corpus", action="store_true", help="write new corpus entries to tests/fuzz_corpus")
    a = ap.parse_args(argv)
    target_name, total_runs, report_dir = a.target, a.runs, a.report

    import atheris
    import torch

    torch.set_num_threads(1)
    with atheris.instrument_imports(include=["bitstream", "hific_codec"]):
        import bitstream  # noqa: F401
        import hific_codec  # noqa: F401
        from hific_codec import api, codec, image_io  # noqa: F401

    work = Path(tempfile.mkdtemp(prefix=f"nic-fuzz-{a.target}-"))
    for name, data in seeds().items():
        (work / name).write_bytes(data)
    _TILED[:] = tiled_variants()
    artifacts = ROOT / "runs" / "fuzz"
    artifacts.mkdir(parents=True, exist_ok=True)
    dirs = [str(CORPUS), str(work)] if a.keep_corpus else [str(work), str(CORPUS)]  # new units go to the first
    args = [sys.argv[0], *dirs, f"-runs={a.runs}", f"-timeout={int(HANG_SECONDS) + 1}",
            f"-rss_limit_mb={a.rss_limit_mb}", f"-seed={a.seed}", "-max_len=65536", "-print_final_stats=1",
            f"-artifact_prefix={artifacts}/"]
    atheris.Setup(args, test_one_input, custom_mutator=mutate)
    atheris.Fuzz()


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
