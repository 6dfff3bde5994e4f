"""Aggregate rows into CompressAI-format JSON, then CSV, Markdown and plots made from that JSON."""
from __future__ import annotations

import csv
import json
import math
import os
import platform
import re
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .bdrate import bd_rate
from .datasets import REPO

ANCHORS = REPO.parent / "shared" / "anchors"
PUBLISHED = {  # published CompressAI Kodak curves overlaid for context
    "bpg444": "BPG 4:4:4 (published, CompressAI)",
    "jpeg": "JPEG (published, CompressAI)",
    "mbt2018-mean": "mbt2018-mean, GPU-trained (published)",
    "bmshj2018-hyperprior": "bmshj2018-hyperprior, GPU-trained (published)",
    "vtm": "VTM (published)",
}
SANITY = {"jpeg": "jpeg", "bpg": "bpg444"}  # our measured baseline -> published curve of the same codec
METRICS = ("bpp", "psnr-rgb", "ms-ssim", "ms-ssim-db", "encoding_time", "decoding_time", "peak_rss_mb")


def machine(jobs: int = 1) -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    threads = max(1, (os.cpu_count() or 1) // max(1, jobs))  # as runner.run sets them in each worker
    return {"cpu": cpu, "cores": os.cpu_count(), "jobs": jobs, "torch_threads": threads,
            "python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def machine_summary(threads: int = 2) -> str:
    """One line for reports: CPU model, cores, torch threads."""
    m = machine()
    return f"{m['cpu']}, {m['cores']} cores, {threads} torch thread(s)"


def aggregate(rows: list[dict], codecs: dict, dataset: str, n_images: int, fid_ctx: dict | None = None) -> dict[str, dict]:
    """Mean over images for each (codec, quality), only for points every image has.  With ``fid_ctx``
    (cache dir + reference patch features) also FID/KID of each point's decoded patches."""
    by = defaultdict(list)
    for r in rows:
        if r["codec"] in codecs:
            by[(r["codec"], r["quality"])].append(r)
    out = {}
    for name, c in codecs.items():
        res = {m: [] for m in METRICS}
        res["quality"] = []
        for q in c.qualities:
            pts = by.get((name, q), [])
            if len(pts) < n_images:
                continue
            res["quality"].append(q)
            if fid_ctx:
                from . import fid

                feats = np.concatenate([np.load(fid_ctx["cache"] / p["features"]) for p in pts]).astype(np.float64)
                res.setdefault("fid", []).append(fid.fid(fid_ctx["reference"], feats))
                res.setdefault("kid", []).append(fid.kid(fid_ctx["reference"], feats))
            for m in METRICS:
                vals = [p[m] for p in pts if p[m] is not None and not (isinstance(p[m], float) and math.isnan(p[m]))]
                res[m].append(float(np.mean(vals)) if vals else float("nan"))
        order = np.argsort(res["bpp"])
        res = {k: [v[i] for i in order] for k, v in res.items()}
        res["ms-ssim-rgb"] = res["ms-ssim"]  # CompressAI's name (compressai.utils.plot --metric ms-ssim)
        out[name] = {"name": name, "description": f"{c.description}; {dataset}, {n_images} images", "results": res,
                     "timed": timing_provenance([p for q in res["quality"] for p in by[(name, q)]])}
        if fid_ctx:
            out[name]["fid_features"] = fid_ctx["label"]
    return out


def timing_provenance(rows: list[dict]) -> dict | None:
    """How a codec's rows were timed: {"how": "1 worker(s) x 2 thread(s), malloc tuned", "from": UTC,
    "to": UTC, "runs": [harness invocation ids, "" for rows from before ids]}; None when any row was
    cached before the harness recorded timings at all."""
    if not rows or any("timed" not in r for r in rows):
        return None
    seen = sorted({(r["timed"]["workers"], r["timed"]["threads"], r["timed"]["malloc_tuned"]) for r in rows})
    when = sorted(r["timed"]["utc"] for r in rows)
    how = "; ".join(f"{w} worker(s) x {t} thread(s){', malloc tuned' if m else ''}" for w, t, m in seen)
    return {"how": how, "from": when[0], "to": when[-1], "runs": sorted({r["timed"].get("run", "") for r in rows})}


def timed_together(a: dict | None, b: dict | None) -> bool:
    """Both codecs' rows were timed in one harness invocation with the same settings.  Rows from
    before invocation ids fall back to overlapping time windows with the same settings."""
    if not (a and b and a["how"] == b["how"]):
        return False
    ids = set(a.get("runs", [""])) | set(b.get("runs", [""]))
    if "" not in ids:
        return len(ids) == 1
    return a["from"] <= b["to"] and b["from"] <= a["to"]


def _timing_line(name: str, t: dict | None) -> str:
    if t is None:
        return f"- {name}: not recorded (rows cached before the harness recorded it)"
    runs = [r for r in t.get("runs", []) if r]
    ids = f"; harness run {', '.join(runs)}" if runs else ""
    return f"- {name}: {t['how']}; {t['from']} to {t['to']} UTC{ids}"


def load_published(dataset: str) -> dict[str, dict]:
    d = ANCHORS / dataset
    out = {}
    for key in PUBLISHED:
        f = d / f"{key}.json"
        if f.exists():
            out[key] = json.loads(f.read_text())
    return out


def _ms_db(res: dict) -> list[float]:
    if "ms-ssim-db" in res:
        return res["ms-ssim-db"]
    return [-10 * math.log10(max(1e-10, 1 - v)) for v in res.get("ms-ssim", [])]


def bd_table(curves: dict[str, dict], anchor: str) -> list[tuple[str, float, float]]:
    a = curves[anchor]["results"]
    rows = []
    for name, c in curves.items():
        r = c["results"]
        rows.append((name, bd_rate(a["bpp"], a["psnr-rgb"], r["bpp"], r["psnr-rgb"]),
                     bd_rate(a["bpp"], _ms_db(a), r["bpp"], _ms_db(r))))
    return rows


def _fid_label(curves: dict) -> str | None:
    return next((c["fid_features"] for c in curves.values() if c.get("fid_features")), None)


def plots(curves: dict, published: dict, out: Path, dataset: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    panels = [("psnr-rgb", "PSNR-RGB (dB)", "rd_psnr.png"), ("ms-ssim-db", "MS-SSIM (dB)", "rd_msssim.png")]
    fid_label = _fid_label(curves)
    if fid_label:
        panels.append(("fid", f"FID, lower is better\n[{fid_label.split(',')[0]}]", "rd_fid.png"))
        panels.append(("kid", f"KID x1000, lower is better\n[{fid_label.split(',')[0]}]", "rd_kid.png"))
    for metric, label, fname in panels:
        fig, ax = plt.subplots(figsize=(7, 5), dpi=110)
        for key, p in published.items() if metric not in ("fid", "kid") else ():
            r = p["results"]
            y = r.get(metric) if metric != "ms-ssim-db" else (_ms_db(r) if "ms-ssim" in r else None)
            if y:
                ax.plot(r["bpp"], y, "--", lw=1, alpha=0.6, label=PUBLISHED[key])
        for name, c in curves.items():
            r = c["results"]
            y = [1000 * v for v in r[metric]] if metric == "kid" else r[metric]
            ax.plot(r["bpp"], y, "o-", lw=2 if name.startswith("nic") else 1.3, ms=3, label=f"{name} (measured)")
        ax.set_xlim(0, 2.0 if metric not in ("fid", "kid") else 1.0)
        ax.set_xlabel("bits per pixel (real file sizes)")
        ax.set_ylabel(label)
        ax.set_title(f"{dataset}: rate–distortion")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / fname)
        plt.close(fig)
        files.append(fname)
    return files


def _listed(out: Path) -> list[str]:
    """The codec list of the folder's REPORT.md (its `--codecs` in "Generated by")."""
    path = out / "REPORT.md"
    m = re.search(r"--codecs ([^ `]+)", path.read_text()) if path.exists() else None
    return m.group(1).split(",") if m else []


def kept(out: Path, rerun: set[str]) -> tuple[dict[str, dict], list[dict]]:
    """The report folder's curves and per-image rows of the codecs not in ``rerun`` (``--update``:
    rerun some codecs, keep the others as measured, with their own timings and machine)."""
    curves = {}
    for f in sorted(out.glob("*.json")):
        c = json.loads(f.read_text())
        if isinstance(c, dict) and "results" in c and c.get("name") == f.stem and f.stem not in rerun:
            curves[f.stem] = c
    rows = []
    if (out / "per_image.csv").exists():
        with open(out / "per_image.csv", newline="") as f:
            rows = [r for r in csv.DictReader(f) if r["codec"] in curves]
    return curves, rows


def write(rows: list[dict], codecs: dict, dataset: str, n_images: int, out: Path, anchor: str = "bpg",
          fid_ctx: dict | None = None, command: str | None = None, jobs: int = 1, update: bool = False) -> Path:
    """Curves (JSON), per-image CSV, REPORT.md and plots.  ``update``: the folder's other codecs
    stay in the report with their earlier measurements."""
    out.mkdir(parents=True, exist_ok=True)
    old, old_rows = kept(out, set(codecs)) if update else ({}, [])
    listed = _listed(out) if old else []  # read before this run's REPORT.md replaces it
    curves = aggregate(rows, codecs, dataset, n_images, fid_ctx)
    meta = machine(jobs)
    for name, c in curves.items():
        c["meta"] = meta
        (out / f"{name}.json").write_text(json.dumps(c, indent=1) + "\n")
    with open(out / "per_image.csv", "w", newline="") as f:
        keys = ["codec", "image", "quality", "bytes", *METRICS[:-1]]
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        fresh = [r for r in rows if r["codec"] in curves]
        for r in sorted(fresh + old_rows, key=lambda r: (r["codec"], r["image"], str(r["quality"]))):
            w.writerow(r)
    command = command or f"python -m benchmarks --dataset {dataset}"
    note = ""
    if old:  # the earlier report's codec order; codecs it did not list go last
        merged = {**old, **curves}
        names = sorted(merged, key=lambda n: listed.index(n) if n in listed else len(listed))
        rerun = ",".join(curves)
        curves = {n: merged[n] for n in names}
        command = f"python -m benchmarks --dataset {dataset} --codecs {','.join(names)}"
        note = (f"  This report is an update: `--codecs {rerun} --update` reran those codecs and kept the others "
                "as measured before (each codec's timing provenance is below).")
    return markdown(curves, dataset, out, anchor, command, note)


OTHER_RESULTS = {  # reports written by the other one-command checks, linked when present
    "training/bd_vs_hours.json": "BD-rate against training hours, one row per shipped model (`python -m benchmarks.progress`)",
    "kodak/RATE_CHECK.md": "file size vs the model's rate estimate, container overhead (`python -m benchmarks.rate_check`)",
    "throughput/THROUGHPUT.md": "batch-encoding throughput, local processes vs Ray local mode (`python -m benchmarks.throughput`)",
    "large_image/large_image.json": "12000x9000 image: peak memory, time, seams (`python -m benchmarks.large_image`)",
    "effort/effort.json": "encoder effort 0/1/2: BD-rate and encode time on four Kodak crops (`python -m benchmarks.effort`)",
    "fuzz/decoder.json": "fuzzing results (`python -m tests.fuzz`; summary in RELIABILITY.md)",
    "plugins/SR.md": "super-resolution plugins on Set5/Set14/BSD100 (`python -m benchmarks.sr`)",
}


def _other_results(out: Path) -> list[str]:
    root = out.parent
    found = [(k, v) for k, v in OTHER_RESULTS.items() if (root / k).exists()]
    if not found:
        return []
    import os

    lines = ["", "## Other results", ""] + [f"- [{k}]({os.path.relpath(root / k, out)}): {v}" for k, v in found]
    tp = root / "throughput" / "throughput.json"
    if tp.exists():
        t = json.loads(tp.read_text())
        runs = ", ".join(f"{r['engine']} x{r['workers']} {r['images_per_s']:.2f}" for r in t["runs"])
        lines += ["", (f"Batch-encoding throughput on {t['dataset']} ({t['date']}, images/s, worker start-up included): "
                      f"{runs}.")]
    return lines


def markdown(curves: dict, dataset: str, out: Path, anchor: str, command: str, note: str = "") -> Path:
    published = load_published(dataset)
    meta = next(iter(curves.values()))["meta"] if curves else machine()
    if anchor not in curves:
        anchor = "jpeg" if "jpeg" in curves else next(iter(curves))
    L = [f"# {dataset}: rate–distortion benchmark", "",
         (f"Machine: {meta['cpu']}, {meta['cores']} cores; this invocation: {meta.get('jobs', 1)} worker process(es) "
         f"with {meta['torch_threads']} torch thread(s) each (rows cached from earlier runs keep theirs: see "
         f"the timings section), torch {meta['torch']}, "
         f"Python {meta['python']}; {meta['date']}."), "",
         ("bpp from real file bytes (container included); PSNR-RGB and MS-SSIM (RGB) per image, then averaged, "
         f"as CompressAI does.  Generated by `{command}` (per-point results cached; `make bench` runs "
         f"the full codec list).{note}"), "", f"## BD-rate against {anchor} (negative = fewer bits at equal quality)", "",
         "| codec | BD-rate PSNR-RGB | BD-rate MS-SSIM | description |", "|---|---:|---:|---|"]
    for name, bp, bm in bd_table(curves, anchor):
        L.append(f"| {name} | {bp:+.1f}% | {bm:+.1f}% | {curves[name]['description']} |")
    if published:
        L += ["", "## Against published Kodak curves (CompressAI)", "",
              "| ours | published | BD-rate PSNR-RGB (ours vs published) |", "|---|---|---:|"]
        pairs = [(o, p) for o, p in SANITY.items() if o in curves and p in published]
        if "nic" in curves:
            pairs += [("nic", p) for p in ("bpg444", "mbt2018-mean", "bmshj2018-hyperprior", "jpeg") if p in published]
        for o, p in pairs:
            a, r = published[p]["results"], curves[o]["results"]
            L.append(f"| {o} | {p} | {bd_rate(a['bpp'], a['psnr-rgb'], r['bpp'], r['psnr-rgb']):+.1f}% |")
    L += ["", "## Points and timings (mean per image)", "",
          "| codec | quality | bpp | PSNR-RGB | MS-SSIM (dB) | encode s | decode s | peak RSS MB |",
          "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, c in curves.items():
        r = c["results"]
        for i in range(len(r["bpp"])):
            L.append(f"| {name} | {r['quality'][i]} | {r['bpp'][i]:.3f} | {r['psnr-rgb'][i]:.2f} | "
                     f"{r['ms-ssim-db'][i]:.2f} | {r['encoding_time'][i]:.3f} | {r['decoding_time'][i]:.3f} | "
                     f"{r['peak_rss_mb'][i]:.0f} |")
    L += ["", "How each codec's times were taken (rows are cached, so one report can join several runs):", ""]
    L += [_timing_line(name, c.get("timed")) for name, c in curves.items()]
    if "bpg" in curves and "nic" in curves:
        b, n = curves["bpg"]["results"], curves["nic"]["results"]
        enc = np.mean(n["encoding_time"]) / np.mean(b["encoding_time"])
        dec = np.mean(n["decoding_time"]) / np.mean(b["decoding_time"])
        same = timed_together(curves["bpg"].get("timed"), curves["nic"].get("timed"))
        L += ["", f"Time ratios NIC/BPG (mean over all points): encode {enc:.2f}x, decode {dec:.2f}x, "
                  + ("from rows timed together (same run, same settings, above).  " if same else
                     "from rows timed in different runs or settings (above): indicative only.  ")
                  + "BPG times include process start and PNG/PPM file I/O (bpgenc/bpgdec are command-line tools); "
                  "NIC times are in-process with the model already loaded."]
    fid_label = _fid_label(curves)
    if fid_label:
        L += ["", f"## FID / KID ({fid_label})", "",
              ("256x256 patches, HiFiC's protocol for small datasets: a non-overlapping grid plus a grid shifted by "
              "128 px; reference = the same patches of the originals.  With few patches, FID is biased upwards; "
              "KID (x1000) is unbiased."), "", "| codec | quality | bpp | FID | KID x1000 |", "|---|---:|---:|---:|---:|"]
        for name, c in curves.items():
            r = c["results"]
            for i in range(len(r["bpp"])):
                L.append(f"| {name} | {r['quality'][i]} | {r['bpp'][i]:.3f} | {r['fid'][i]:.2f} | {1000 * r['kid'][i]:.2f} |")
    figs = plots(curves, published, out, dataset)
    L += ["", "## Plots", "", *[f"![{f}]({f})" for f in figs], "",
          "Dashed lines: published numbers (CompressAI's Kodak results), for context only; solid: measured here."]
    L += _other_results(out)
    path = out / "REPORT.md"
    path.write_text("\n".join(L) + "\n")
    return path
