"""Overfitted coding (encoder effort 3-5) against BPG 4:4:4 on whole Kodak images, side by side.

    python -m benchmarks.overfit --efforts 3 --images kodim01,kodim05 [--threads 2]
    python -m benchmarks.overfit --report          # summary from the points measured so far
    python -m benchmarks.overfit --device cuda --batch 24 --efforts 3,4,5 --files DIR [--deadline S]
    python -m benchmarks.overfit --import-files DIR   # decode and measure those files here

With ``--device`` the fits run on an accelerator, many at once (fit.fit_batch: one model per image
and quality, same schedule and iteration count as the CLI's effort levels), and the coded files go
to DIR with a sidecar each (fit seconds, device, batch); ``--import-files`` then decodes them on
this machine, so decode times and quality are measured where the report's BPG points are.

Each point (image, effort, quality) is one JSON file under results/overfit/points/, written when
it is measured and committed, so the curve is built up over several runs; BPG's points for the
same image are measured in the same run (encode and decode seconds side by side).  The report
gives per-image BD-rates against BPG (PSNR-RGB and MS-SSIM, Bjøntegaard with PCHIP), the mean
encode seconds per effort, and decode seconds as a ratio to BPG's on the same images.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
from PIL import Image

from . import datasets, metrics, report
from .bdrate import bd_rate

OUT = Path(__file__).resolve().parent / "results" / "overfit"
QUALITIES = (20, 40, 60, 80)
BPG_Q = (24, 28, 32, 36, 40, 44, 47)


def _point(path: Path, codec: str, q, effort: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    rgb = np.asarray(Image.open(path).convert("RGB"))
    h, w = rgb.shape[:2]
    extra = {}
    if codec == "bpg":
        from .codecs.bpg import BpgCodec

        c = BpgCodec("bpg", "", BPG_Q)
        c.check()
        t0 = time.perf_counter()
        data = c.encode(rgb, q)
        t1 = time.perf_counter()
        out = c.decode(data)
    else:
        import hific_codec

        t0 = time.perf_counter()
        data = hific_codec.encode(rgb, float(q), effort=effort)
        t1 = time.perf_counter()
        out = hific_codec.decode(data)
        i = hific_codec.info(data)
        extra = {"weight_bytes": i.weight_bytes, "macs_per_pixel": i.macs_per_pixel, "mode": i.mode, "fit": plan(effort)}
    t2 = time.perf_counter()
    ms = metrics.ms_ssim(rgb, out)
    return {"image": path.name, "codec": codec, "effort": effort, "quality": q, "bytes": len(data),
            "bpp": len(data) * 8 / (h * w), "psnr-rgb": metrics.psnr(rgb, out), "ms-ssim": ms,
            "ms-ssim-db": metrics.ms_ssim_db(ms), "encode_s": t1 - t0, "decode_s": t2 - t1, "threads": threads,
            "utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), **extra}


def plan(effort: int) -> dict:
    """What an effort level fits (iterations one octave down, then at full resolution): a point
    measured under another plan is stale, re-measured by ``measure`` and left out of the report."""
    from hific_codec import overfit

    lv = overfit.EFFORTS[effort]
    return {"iterations": lv.iterations, "coarse": list(lv.coarse), "coarse_below": lv.fit_config().coarse_below}


def current(row: dict) -> bool:
    return row["codec"] != "overfit" or row.get("fit") == plan(row["effort"])


def _file(image: str, codec: str, effort: int, q) -> Path:
    return OUT / "points" / f"{Path(image).stem}-{codec}-e{effort}-q{q}.json"


def measure(images: list[Path], efforts: list[int], threads: int, qualities=QUALITIES) -> None:
    (OUT / "points").mkdir(parents=True, exist_ok=True)
    for p in images:
        jobs = [("bpg", q, 0) for q in BPG_Q] + [("overfit", q, e) for e in efforts for q in qualities]
        for codec, q, e in jobs:
            f = _file(p.name, codec, e, q)
            if f.exists() and current(json.loads(f.read_text())):
                continue
            row = _point(p, codec, q, e, threads)
            f.write_text(json.dumps(row, indent=1) + "\n")
            print(f"{p.name} {codec} e{e} q{q}: {row['bpp']:.4f} bpp {row['psnr-rgb']:.2f} dB "
                  f"enc {row['encode_s']:.1f} s dec {row['decode_s']:.2f} s", flush=True)


def fit_files(images: list[Path], efforts: list[int], qualities, device: str, batch: int, deadline: float,
              outdir: Path, workers: int, iterations: int | None = None) -> None:
    """Fit every (image, effort, quality) on ``device`` in batches of same-shaped images, coding the
    fitted models into .nic files in a pool of CPU processes meanwhile.  A batch that the time
    measured so far says would end after ``deadline`` seconds is not started."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import torch

    from hific_codec import overfit
    from hific_codec.overfit.fit import FitConfig, fit_batch
    from hific_codec.overfit.model import OverfitConfig

    outdir.mkdir(parents=True, exist_ok=True)
    name = torch.cuda.get_device_name() if device.startswith("cuda") else report.machine(1).get("cpu", "cpu")
    rgbs = {p.stem: np.asarray(Image.open(p).convert("RGB")) for p in images}
    t0, per_it, pending = time.time(), None, []
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for e in efforts:
            groups: dict[tuple, list] = {}
            for stem, rgb in rgbs.items():
                for q in qualities:
                    if not (outdir / f"{stem}-overfit-e{e}-q{q}.nic").exists():
                        groups.setdefault(rgb.shape, []).append((stem, q))
            for items in groups.values():
                for k in range(0, len(items), batch):
                    chunk = items[k : k + batch]
                    fc = FitConfig(iterations=iterations) if iterations else overfit.EFFORTS[e].fit_config()
                    its = fc.iterations + sum(fc.coarse)
                    if per_it is not None and time.time() - t0 + per_it * its * len(chunk) > deadline:
                        print(f"skipped e{e} {len(chunk)} fits: past the deadline", flush=True)
                        continue
                    t1 = time.time()
                    frs = fit_batch([rgbs[st] for st, _ in chunk], OverfitConfig(), fc,
                                    [overfit.lmbda(q) for _, q in chunk], device)
                    dt = time.time() - t1
                    per_it = dt / (its * len(chunk))
                    print(f"e{e} batch of {len(chunk)}: {dt:.0f} s ({1000 * dt / its:.1f} ms/iteration)", flush=True)
                    meta = {"effort": e, "iterations": its, "device": name, "batch": len(chunk), "fit_s": dt,
                            "fit": None if iterations else plan(e)}
                    pending += [pool.submit(_code_file, rgbs[st], fr, st, q, meta, outdir) for (st, q), fr in zip(chunk, frs)]
        for f in pending:
            print(f.result(), flush=True)


def _code_file(rgb: np.ndarray, fr, stem: str, q: int, meta: dict, outdir: Path) -> str:
    import torch

    from hific_codec.api import overfit_file
    from hific_codec.overfit import codec

    torch.set_num_threads(1)
    t = time.time()
    enc = codec.code(rgb, fr)
    data = overfit_file(enc.payload, rgb.shape[1], rgb.shape[0], q)
    f = outdir / f"{stem}-overfit-e{meta['effort']}-q{q}.nic"
    f.with_suffix(".json").write_text(json.dumps({**meta, "code_s": time.time() - t, "quality": q}) + "\n")
    f.write_bytes(data)
    return f"{f.name}: {len(data)} bytes"


def import_files(folder: Path, threads: int) -> None:
    """Decode and measure the files ``fit_files`` wrote: one point JSON each."""
    import torch

    import hific_codec

    torch.set_num_threads(threads)
    _, images = datasets.resolve("kodak", None)
    paths = {p.stem: p for p in images}
    (OUT / "points").mkdir(parents=True, exist_ok=True)
    for f in sorted(folder.glob("*.nic")):
        meta = json.loads(f.with_suffix(".json").read_text())
        stem = f.name.split("-")[0]
        dest = _file(stem, "overfit", meta["effort"], meta["quality"])
        if dest.exists() and current(json.loads(dest.read_text())):
            continue
        rgb = np.asarray(Image.open(paths[stem]).convert("RGB"))
        data = f.read_bytes()
        t = time.perf_counter()
        out = hific_codec.decode(data)
        dec = time.perf_counter() - t
        i = hific_codec.info(data)
        ms = metrics.ms_ssim(rgb, out)
        row = {"image": paths[stem].name, "codec": "overfit", "effort": meta["effort"], "quality": meta["quality"],
               "bytes": len(data), "bpp": len(data) * 8 / rgb.shape[0] / rgb.shape[1],
               "psnr-rgb": metrics.psnr(rgb, out), "ms-ssim": ms, "ms-ssim-db": metrics.ms_ssim_db(ms),
               "encode_s": meta["fit_s"] / meta["batch"] + meta["code_s"], "decode_s": dec, "threads": threads,
               "encode_device": f"{meta['device']}, fits in batches of {meta['batch']}",
               "utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
               "weight_bytes": i.weight_bytes, "macs_per_pixel": i.macs_per_pixel, "mode": i.mode,
               "fit": meta.get("fit")}
        dest.write_text(json.dumps(row, indent=1) + "\n")
        print(f"{f.name}: {row['bpp']:.4f} bpp {row['psnr-rgb']:.2f} dB dec {dec:.2f} s", flush=True)


def summarise() -> dict:
    rows = [r for r in (json.loads(f.read_text()) for f in sorted((OUT / "points").glob("*.json"))) if current(r)]
    by: dict[tuple, list[dict]] = {}
    for r in rows:
        by.setdefault((r["image"], r["codec"], r["effort"]), []).append(r)
    out = {"machine": report.machine(1), "efforts": {}}
    for (image, codec, e), rs in sorted(by.items()):
        if codec == "bpg" or len(rs) < 2:
            continue
        bpg = by.get((image, "bpg", 0), [])
        entry = {
            "points": len(rs),
            **_bd(bpg, rs),
            "encode_s": float(np.mean([x["encode_s"] for x in rs])),
            "decode_s": float(np.mean([x["decode_s"] for x in rs])),
            "bpg_decode_s": float(np.mean([x["decode_s"] for x in bpg])) if bpg else math.nan,
            "weight_bytes": float(np.mean([x["weight_bytes"] for x in rs])),
            "threads": rs[0]["threads"],
        }
        out["efforts"].setdefault(str(e), {})[image] = entry
    for e, imgs in out["efforts"].items():
        vals = list(imgs.values())
        out["efforts"][e] = {"images": imgs, "mean": {k: float(np.nanmean([v[k] for v in vals]))
                                                     for k in ("bd_rate_psnr", "bd_rate_msssim", "encode_s",
                                                               "decode_s", "bpg_decode_s", "weight_bytes")}}
    return out


def _bd(anchor: list[dict], test: list[dict]) -> dict:
    """BD-rates of ``test`` against ``anchor`` (rows with bpp, psnr-rgb and ms-ssim-db)."""
    def curve(rows, key):
        return [r["bpp"] for r in rows], [r[key] for r in rows]

    return {"bd_rate_psnr": bd_rate(*curve(anchor, "psnr-rgb"), *curve(test, "psnr-rgb")),
            "bd_rate_msssim": bd_rate(*curve(anchor, "ms-ssim-db"), *curve(test, "ms-ssim-db"))}


KODAK_ROWS = Path(__file__).resolve().parent / "results" / "kodak" / "per_image.csv"
EARLIER = {"0": "nic", "1": "nic-e1"}  # the hyperprior's levels, as the Kodak report measured them


def earlier_levels(images: list[str]) -> dict:
    """BD-rate against BPG of efforts 0 and 1 on the same images, from the Kodak report's rows."""
    import csv

    if not KODAK_ROWS.exists():
        return {}
    rows = list(csv.DictReader(KODAK_ROWS.open()))
    out = {}
    for effort, codec in EARLIER.items():
        per = {}
        for img in images:
            def pts(c, img=img):
                return [{k: float(r[k]) for k in ("bpp", "psnr-rgb", "ms-ssim-db", "encoding_time")}
                        for r in rows if r["codec"] == c and r["image"] == img]
            a, t = pts("bpg"), pts(codec)
            if len(a) >= 2 and len(t) >= 2:
                per[img] = {**_bd(a, t), "encode_s": float(np.mean([x["encoding_time"] for x in t]))}
        if per:
            out[effort] = {"images": per, "mean": {k: float(np.nanmean([v[k] for v in per.values()]))
                                                   for k in ("bd_rate_psnr", "bd_rate_msssim", "encode_s")}}
    return out


def write_report() -> Path:
    from hific_codec.overfit.fit import coarse_saving

    s = summarise()
    images = sorted({img for d in s["efforts"].values() for img in d["images"]})
    s["earlier"] = earlier_levels(images)
    (OUT / "overfit.json").write_text(json.dumps(s, indent=1) + "\n")
    lines = ["# Overfitted coding against BPG 4:4:4 (Kodak, whole images)", "",
             (f"Machine: {s['machine'].get('cpu', '?')}; command: `python -m benchmarks.overfit`.  Real file "
             "sizes; BD-rate (PCHIP) of each image's curve against BPG's measured in the same run; negative "
             "is fewer bits than BPG.  Encode seconds are per point as measured; some points shared the cores "
             "with other jobs (each point's JSON has its time of day), so the shortest ones are the idle-machine "
             "figures.  Decode seconds are those of the decoder at each point's date, in the benchmark's "
             "process; the grid-interleaved decoder (format 1.8) is about 1.6x faster than the one that measured "
             "these points (kodim01: 0.77 s -> 0.49 s, one thread, side by side).  A BD-rate over 2 points covers "
             "only their quality range."), "",
             "Fit plans (each point records its own; points of another plan are left out): "
             + "; ".join(f"effort {e}: {p['iterations']} iterations, or {p['coarse'][0]} one octave down and "
                         f"{p['iterations'] - coarse_saving(tuple(p['coarse']))} at full resolution where the image is smooth for "
                         "the rate (fit._coarsen)" for e, p in ((e, plan(int(e))) for e in s["efforts"])) + ".", "",
             ("| effort | image | points | BD-rate PSNR | BD-rate MS-SSIM | encode s | decode s | BPG decode s | "
             "weights B | threads |"), "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for e, d in s["efforts"].items():
        for img, v in d["images"].items():
            lines.append(f"| {e} | {img} | {v['points']} | {v['bd_rate_psnr']:+.1f}% | {v['bd_rate_msssim']:+.1f}% | "
                         f"{v['encode_s']:.0f} | {v['decode_s']:.2f} | {v['bpg_decode_s']:.3f} | "
                         f"{v['weight_bytes']:.0f} | {v['threads']} |")
        m = d["mean"]
        lines.append(f"| {e} | **mean of {len(d['images'])}** | | **{m['bd_rate_psnr']:+.1f}%** | "
                     f"**{m['bd_rate_msssim']:+.1f}%** | {m['encode_s']:.0f} | {m['decode_s']:.2f} | "
                     f"{m['bpg_decode_s']:.3f} | {m['weight_bytes']:.0f} | |")
    if s["earlier"]:
        lines += ["", ("The hyperprior's levels on the same images, from the Kodak report's rows "
                  "(`benchmarks/results/kodak/per_image.csv`; encode seconds there are one-thread workers):"), "",
                  "| effort | BD-rate PSNR | BD-rate MS-SSIM | encode s | per image (PSNR) |", "|---|---:|---:|---:|---|"]
        for e, d in s["earlier"].items():
            m = d["mean"]
            per = ", ".join(f"{img} {v['bd_rate_psnr']:+.1f}%" for img, v in d["images"].items())
            lines.append(f"| {e} | {m['bd_rate_psnr']:+.1f}% | {m['bd_rate_msssim']:+.1f}% | {m['encode_s']:.1f} | {per} |")
    (OUT / "REPORT.md").write_text("\n".join(lines) + "\n")
    return OUT / "REPORT.md"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.overfit", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--efforts", default="3", help="comma-separated effort levels (3, 4, 5)")
    ap.add_argument("--images", default="kodim01,kodim05,kodim14,kodim23", help="Kodak image stems")
    ap.add_argument("--qualities", default=",".join(map(str, QUALITIES)))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--report", action="store_true", help="only rebuild the report from the stored points")
    ap.add_argument("--device", help="fit on this torch device (cuda), writing .nic files to --files")
    ap.add_argument("--batch", type=int, default=24, help="fits at once on --device")
    ap.add_argument("--deadline", type=float, default=math.inf, help="seconds after which no batch starts")
    ap.add_argument("--workers", type=int, default=8, help="CPU processes coding the fitted models")
    ap.add_argument("--files", type=Path, help="folder for --device's files")
    ap.add_argument("--iterations", type=int, help="with --device: this many instead of the effort's (a check)")
    ap.add_argument("--import-files", type=Path, help="decode and measure --device's files here")
    a = ap.parse_args(argv)
    if a.device:
        _, images = datasets.resolve("kodak", None)
        want = None if a.images == "all" else {s.strip() for s in a.images.split(",")}
        fit_files([p for p in images if want is None or p.stem in want], [int(e) for e in a.efforts.split(",")],
                  tuple(int(q) for q in a.qualities.split(",")), a.device, a.batch, a.deadline, a.files, a.workers,
                  a.iterations)
        return 0
    if a.import_files:
        import_files(a.import_files, a.threads)
    elif not a.report:
        _, images = datasets.resolve("kodak", None)
        want = [s.strip() for s in a.images.split(",")]
        chosen = [p for w in want for p in images if p.stem == w]
        measure(chosen, [int(e) for e in a.efforts.split(",")], a.threads,
                tuple(int(q) for q in a.qualities.split(",")))
    print(f"report: {write_report()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
