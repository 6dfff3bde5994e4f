"""Run codecs x images x qualities, one cached JSON row per point so an interrupted run resumes."""
from __future__ import annotations

import hashlib
import json
import os
import resource
import time
from pathlib import Path

import numpy as np
from PIL import Image

from . import codecs, metrics


def _row(codec: codecs.Codec, path: Path, q, feat_file: Path | None) -> dict:
    rgb = np.asarray(Image.open(path).convert("RGB"))
    t0 = time.perf_counter()
    data = codec.encode(rgb, q)
    t1 = time.perf_counter()
    out = codec.decode(data)
    t2 = time.perf_counter()
    if out.shape != rgb.shape:
        raise RuntimeError(f"{codec.name} returned shape {out.shape} for {rgb.shape}")
    h, w = rgb.shape[:2]
    ms = metrics.ms_ssim(rgb, out)
    if feat_file is not None:  # patch features of the decoded image, for FID/KID in the report
        from . import fid

        np.save(feat_file, fid.patch_features(out))
    return {
        "codec": codec.name, "image": path.name, "quality": q, "bytes": len(data), "bpp": len(data) * 8 / (h * w),
        "psnr-rgb": metrics.psnr(rgb, out), "ms-ssim": ms, "ms-ssim-db": metrics.ms_ssim_db(ms),
        "encoding_time": t1 - t0, "decoding_time": t2 - t1,
        # whole-process peak RSS of this worker (self + children, e.g. bpgenc): an upper bound per codec
        "peak_rss_mb": max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                           resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024,
    }


_CODECS: dict[str, codecs.Codec] = {}


def _work(name: str, path: str, q, threads: int, feat_file: str | None, jobs: int = 1, run_id: str = "") -> dict:
    """Worker entry point: one codec instance per process, checked once.  The row records how its
    times were taken, because cached rows from different runs meet in one report."""
    if name not in _CODECS:
        import torch

        torch.set_num_threads(threads)
        c = codecs.get(name)
        c.check()
        _CODECS[name] = c
    row = _row(_CODECS[name], Path(path), q, Path(feat_file) if feat_file else None)
    from hific_codec import allocator

    row["timed"] = {"workers": jobs, "threads": threads, "malloc_tuned": allocator.applied(),
                    "utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "run": run_id}
    return row


def cache_key(codec: codecs.Codec, path: Path, q) -> str:
    h = hashlib.sha1(f"{codec.description}|{path.name}|{path.stat().st_size}|{q}".encode()).hexdigest()[:16]
    return f"{codec.name}-{path.stem}-{q}-{h}.json"


def features_path(cache_dir: Path, row_file: Path) -> Path:
    return cache_dir / (row_file.stem + ".features.npy")


def original_features(images: list[Path], cache_dir: Path) -> list[np.ndarray]:
    from . import fid

    out = []
    for p in images:
        f = cache_dir / f"original-{p.stem}-{p.stat().st_size}.features.npy"
        if not f.exists():
            np.save(f, fid.patch_features(np.asarray(Image.open(p).convert("RGB"))))
        out.append(np.load(f))
    return out


def run(codec_names: list[str], images: list[Path], cache_dir: Path, jobs: int = 1, progress: bool = True,
        log=print, with_fid: bool = True, engine: str = "local",
        address: str | None = None) -> tuple[list[dict], dict[str, codecs.Codec]]:
    cache_dir.mkdir(parents=True, exist_ok=True)
    active: dict[str, codecs.Codec] = {}
    for name in codec_names:
        c = codecs.get(name)
        try:
            c.check()
        except codecs.CodecUnavailable as e:
            log(f"skipping {name}: {e}")
            continue
        active[name] = c
    todo, rows = [], []
    for name, c in active.items():
        for p in images:
            for q in c.qualities:
                f = cache_dir / cache_key(c, p, q)
                feat = features_path(cache_dir, f) if with_fid else None
                if f.exists() and (feat is None or feat.exists()):
                    rows.append(json.loads(f.read_text()))
                else:
                    todo.append((name, p, q, f, feat))
    threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="pt", desc="codec x image x quality", initial=0)

    def done(row: dict, f: Path, feat: Path | None) -> None:
        row["features"] = feat.name if feat else None
        f.write_text(json.dumps(row))
        rows.append(row)
        if bar:
            bar.update(1)

    from hific_codec import engines

    run_id = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}"  # one per invocation
    args = [(name, str(p), q, threads, str(feat) if feat else None, jobs, run_id) for name, p, q, f, feat in todo]
    for i, row in engines.imap(_work, args, engine, jobs, address):
        done(row, todo[i][3], todo[i][4])
    if bar:
        bar.close()
    return rows, active
