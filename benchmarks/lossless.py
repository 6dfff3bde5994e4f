"""Lossless coding against PNG, WebP lossless and JPEG XL lossless, side by side on the same images.

    python -m benchmarks --lossless --dataset kodak [--images kodim01,kodim05] [--threads 1]
    python -m benchmarks --lossless --report      # summary and figure from the points measured so far

Every codec's file is decoded and compared with the source, pixel for pixel (a codec that is not
exact fails the run).  Sizes are real file sizes in bits per sub-pixel (bpsp: bits / (h·w·3));
encode and decode seconds are measured in the same process, one image at a time.  Settings:
PNG at zlib level 9 with Pillow's optimize, WebP lossless at method 6 and quality 100 (libwebp's
slowest, smallest), JPEG XL lossless at effort 7 (cjxl's default; libjxl through
pillow-jxl-plugin).  Each point (dataset, image, codec) is one JSON file under
results/lossless/points/, so a report is built up over several runs; the report has a figure of
bpsp per image and codec (bpsp.png).
"""
from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from . import datasets, report

OUT = Path(__file__).resolve().parent / "results" / "lossless"
CODECS = ("nic", "png", "webp", "jxl")
LABELS = {"nic": "NIC lossless", "png": "PNG (level 9, optimize)", "webp": "WebP lossless (method 6, q100)",
          "jxl": "JPEG XL lossless (effort 7)"}


def _pillow(rgb: np.ndarray, codec: str) -> tuple[bytes, float, np.ndarray, float]:
    opts = {"png": {"format": "PNG", "optimize": True, "compress_level": 9},
            "webp": {"format": "WEBP", "lossless": True, "quality": 100, "method": 6},
            "jxl": {"format": "JXL", "lossless": True, "effort": 7}}[codec]
    if codec == "jxl":
        import pillow_jxl  # noqa: F401  (registers the format)
    buf = io.BytesIO()
    t0 = time.perf_counter()
    Image.fromarray(rgb).save(buf, **opts)
    t1 = time.perf_counter()
    out = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return buf.getvalue(), t1 - t0, out, time.perf_counter() - t1


def point(path: Path, codec: str, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    rgb = np.asarray(Image.open(path).convert("RGB"))
    if codec == "nic":
        import hific_codec

        t0 = time.perf_counter()
        data = hific_codec.encode(rgb, lossless=True)
        t1 = time.perf_counter()
        out = hific_codec.decode(data)
        enc, dec = t1 - t0, time.perf_counter() - t1
    else:
        data, enc, out, dec = _pillow(rgb, codec)
    if not np.array_equal(out, rgb):
        raise SystemExit(f"{codec} is not lossless on {path.name}")
    h, w = rgb.shape[:2]
    return {"image": path.name, "codec": codec, "bytes": len(data), "bpsp": len(data) * 8 / (h * w * 3),
            "encode_s": round(enc, 3), "decode_s": round(dec, 3), "threads": threads, "size": [w, h],
            "time": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def _path(dataset: str, image: str, codec: str) -> Path:
    return OUT / "points" / f"{dataset}-{Path(image).stem}-{codec}.json"


def measure(dataset: str, images: list[Path], codecs: list[str], threads: int) -> None:
    for p in images:
        for c in codecs:
            f = _path(dataset, p.name, c)
            if f.exists():
                continue
            r = point(p, c, threads)
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(json.dumps(r, indent=1) + "\n")
            print(f"{dataset} {p.name} {c}: {r['bpsp']:.3f} bpsp, enc {r['encode_s']:.2f} s, dec {r['decode_s']:.2f} s",
                  flush=True)


def build_report() -> str:
    by: dict[tuple[str, str], dict[str, dict]] = {}
    for f in sorted((OUT / "points").glob("*.json")):
        r = json.loads(f.read_text())
        by.setdefault((f.name.split("-", 1)[0], r["image"]), {})[r["codec"]] = r  # dataset-image-codec.json
    lines = ["# Lossless coding against PNG, WebP and JPEG XL", "",
             f"Machine: {report.machine_summary(1)}; command: `python -m benchmarks --lossless`.  Real file sizes in "
             "bits per sub-pixel (bpsp); every file decoded and compared with its source pixel for pixel.  "
             "Encode and decode seconds side by side in one process (NIC on one torch thread; the other codecs as their "
             "libraries run by default).  " +
             "; ".join(f"{c}: {LABELS[c]}" for c in CODECS) + ".", "",
             "| dataset | image | " + " | ".join(f"{c} bpsp" for c in CODECS) + " | NIC vs JXL | NIC enc s | NIC dec s | "
             "JXL enc s | JXL dec s |", "|---|---|" + "---:|" * (len(CODECS) + 5)]
    totals: dict[str, dict[str, list[float]]] = {}
    for (dataset, image), pts in sorted(by.items()):
        if not all(c in pts for c in CODECS):
            continue
        for c in CODECS:
            totals.setdefault(dataset, {}).setdefault(c, []).append(pts[c]["bpsp"])
        n, j = pts["nic"], pts["jxl"]
        lines.append(f"| {dataset} | {image} | " + " | ".join(f"{pts[c]['bpsp']:.3f}" for c in CODECS) +
                     f" | {100 * (n['bpsp'] / j['bpsp'] - 1):+.1f}% | {n['encode_s']:.0f} | {n['decode_s']:.1f} | "
                     f"{j['encode_s']:.2f} | {j['decode_s']:.2f} |")
    for dataset, t in sorted(totals.items()):
        m = {c: float(np.mean(v)) for c, v in t.items()}
        lines.append(f"| {dataset} | **mean of {len(t['nic'])}** | " + " | ".join(f"**{m[c]:.3f}**" for c in CODECS) +
                     f" | **{100 * (m['nic'] / m['jxl'] - 1):+.1f}%** | | | | |")
    lines += ["", ("NIC against each codec, mean bpsp (negative: NIC's files are smaller), and decode time as a "
                   "ratio to JPEG XL's on the same images:"), ""]
    for dataset, t in sorted(totals.items()):
        m = {c: float(np.mean(v)) for c, v in t.items()}
        pts = [p for (d, _), p in by.items() if d == dataset and all(c in p for c in CODECS)]
        ratio = np.mean([p["nic"]["decode_s"] for p in pts]) / np.mean([p["jxl"]["decode_s"] for p in pts])
        lines.append(f"- {dataset}: " + ", ".join(f"{100 * (m['nic'] / m[c] - 1):+.1f}% against {c}" for c in CODECS[1:])
                     + f"; decode {ratio:.0f}x JPEG XL's time")
    if totals:
        lines += ["", "![bpsp per image and codec](bpsp.png)"]
        _figure({k: v for k, v in by.items() if all(c in v for c in CODECS)}, OUT / "bpsp.png")
    return "\n".join(lines) + "\n"


def _figure(by: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted(by)
    fig, ax = plt.subplots(figsize=(max(7.0, 0.32 * len(keys) + 2), 4.5), dpi=110)
    x = np.arange(len(keys))
    for k, c in enumerate(CODECS):
        ax.bar(x + (k - 1.5) * 0.2, [by[key][c]["bpsp"] for key in keys], 0.2, label=LABELS[c])
    ax.set_xticks(x, [f"{Path(i).stem}" + ("" if d == "kodak" else f" ({d})") for d, i in keys], rotation=90, fontsize=7)
    ax.set_ylabel("bits per sub-pixel (real file sizes)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="kodak", choices=sorted(datasets.DATASETS))
    ap.add_argument("--images", help="comma-separated image stems (default: all)")
    ap.add_argument("--codecs", default=",".join(CODECS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--report", action="store_true", help="only rebuild the report from the stored points")
    a = ap.parse_args(argv)
    if not a.report:
        _, files = datasets.resolve(a.dataset)
        if a.images:
            want = set(a.images.split(","))
            files = [f for f in files if f.stem in want]
        codecs = a.codecs.split(",")
        unknown = set(codecs) - set(CODECS)
        if unknown:
            raise SystemExit(f"unknown codec {min(unknown)!r}; known: {', '.join(CODECS)}")
        measure(a.dataset, files, codecs, a.threads)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "REPORT.md").write_text(build_report())
    print((OUT / "REPORT.md").read_text())


if __name__ == "__main__":
    main()
