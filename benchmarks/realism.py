"""Realism decoder report: FID criterion vs BPG, visual grid, decode times.

    python -m benchmarks --dataset kodak --codecs nic,nic-realism,jpeg,webp,avif,bpg --jobs 2
    python -m benchmarks --dataset clic  --codecs nic,nic-realism,jpeg,bpg --jobs 2
    python -m benchmarks --dataset div2k --codecs nic,nic-realism,jpeg,bpg --jobs 2
    python -m benchmarks.realism          # reads those reports, writes results/realism/

The issue's criterion (HiFiC's headline claim, transposed): at every realism point at or below
0.2 bpp, the realism decoder's FID must be lower than BPG's at twice that bitrate.  BPG's FID
at 2x is interpolated linearly in log(bpp) between its measured points.  The grid shows
original / JPEG / BPG / fidelity / realism crops with each codec's quality searched so that the
files are as close as possible to the NIC file's size.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from . import codecs, datasets, metrics, report

RESULTS = Path(__file__).resolve().parent / "results"
OUT = RESULTS / "realism"


def _curve(dataset: str, codec: str) -> dict | None:
    p = RESULTS / dataset / f"{codec}.json"
    return json.loads(p.read_text())["results"] if p.exists() else None


def fid_at(curve: dict, bpp: float, key: str = "fid") -> float | None:
    """Linear interpolation in log(bpp); None outside the measured range."""
    x, y = np.log(np.array(curve["bpp"])), np.array(curve[key])
    order = np.argsort(x)
    x, y = x[order], y[order]
    lb = np.log(bpp)
    return float(np.interp(lb, x, y)) if x[0] <= lb <= x[-1] else None


def criterion(dataset: str, max_bpp: float = 0.2) -> list[dict]:
    real, bpg, fid_ = _curve(dataset, "nic-realism"), _curve(dataset, "bpg"), _curve(dataset, "nic")
    if not (real and bpg and "fid" in real):
        return []
    rows = []
    for i, b in enumerate(real["bpp"]):
        if b > max_bpp:
            continue
        bf, bk = fid_at(bpg, 2 * b), fid_at(bpg, 2 * b, "kid")
        ff = fid_at(fid_, b) if fid_ else None
        fp = fid_at(fid_, b, "psnr-rgb") if fid_ else None
        rows.append({"quality": real["quality"][i], "bpp": b, "fid": real["fid"][i], "kid": real["kid"][i],
                     "psnr": real["psnr-rgb"][i], "bpg_fid_2x": bf, "bpg_kid_2x": bk, "fidelity_fid": ff,
                     "fidelity_psnr": fp, "pass": bf is not None and real["fid"][i] < bf})
    return rows


def _match(codec: codecs.Codec, rgb: np.ndarray, target: int, lo: int, hi: int, rising: bool) -> tuple[bytes, int]:
    """Bisection over an integer quality range for the file closest in size to ``target`` bytes."""
    best = None
    while lo <= hi:
        q = (lo + hi) // 2
        data = codec.encode(rgb, q)
        if best is None or abs(len(data) - target) < abs(len(best[0]) - target):
            best = (data, q)
        if (len(data) < target) == rising:
            lo = q + 1
        else:
            hi = q - 1
    return best


def _label(img: np.ndarray, text: str) -> np.ndarray:
    im = Image.fromarray(img)
    d = ImageDraw.Draw(im)
    d.rectangle([0, 0, im.width, 14], fill=(0, 0, 0))
    d.text((3, 1), text, fill=(255, 255, 255))
    return np.asarray(im)


def grid(image: Path, qualities: tuple[float, ...], box: tuple[int, int, int], out: Path, realism: float = 1.0) -> list[dict]:
    import hific_codec

    rgb = np.asarray(Image.open(image).convert("RGB"))
    h, w = rgb.shape[:2]
    i, j, s = box
    jpeg, bpg = codecs.get("jpeg"), codecs.get("bpg")
    bpg.check()
    rows, meta = [], []
    for q in qualities:
        nic = hific_codec.encode(rgb, quality=q)
        fid = hific_codec.decode(nic, decoder="fidelity")
        real = hific_codec.decode(nic, decoder="realism", realism=realism)
        jd, jq = _match(jpeg, rgb, len(nic), 1, 95, rising=True)
        bd, bq = _match(bpg, rgb, len(nic), 0, 51, rising=False)
        cells = [("original", rgb, None)]
        cells += [(f"JPEG q{jq}", jpeg.decode(jd), jd), (f"BPG qp{bq}", bpg.decode(bd), bd),
                  ("NIC fidelity", fid, nic), (f"NIC realism {realism:g}", real, nic)]
        row = []
        for name, img, data in cells:
            text = name if data is None else f"{name} {len(data) * 8 / (h * w):.3f} bpp {metrics.psnr(rgb, img):.1f} dB"
            row.append(_label(np.ascontiguousarray(img[i : i + s, j : j + s]), text))
            if data is not None:
                meta.append({"image": image.name, "nic_quality": q, "codec": name, "bytes": len(data),
                             "bpp": len(data) * 8 / (h * w), "psnr": metrics.psnr(rgb, img)})
        rows.append(np.concatenate(row, axis=1))
    Image.fromarray(np.concatenate(rows, axis=0)).save(out)
    return meta


KNOBS = (0.0, 0.25, 0.5, 0.75, 1.0)


def knob_path(image: Path, quality: float) -> list[dict]:
    """Along the realism knob, one file: mean absolute difference from the fidelity decoder's
    pixels (levels) and PSNR.  A well-behaved knob moves away from the fidelity output steadily."""
    import hific_codec

    rgb = np.asarray(Image.open(image).convert("RGB"))
    nic = hific_codec.encode(rgb, quality=quality)
    fid = hific_codec.decode(nic, decoder="fidelity").astype(np.int16)
    rows = []
    for k in KNOBS:
        out = hific_codec.decode(nic, decoder="realism", realism=k)
        rows.append({"knob": k, "mad_from_fidelity": float(np.abs(out - fid).mean()), "psnr": metrics.psnr(rgb, out)})
    return rows


def knob_fid(dataset: str = "kodak") -> list[dict]:
    """FID/KID/PSNR at knob 0 (fidelity), 0.5 and 1 for the realism points of a dataset report."""
    curves = {k: _curve(dataset, c) for k, c in ((0.0, "nic"), (0.5, "nic-realism-half"), (1.0, "nic-realism"))}
    if not all(c and "fid" in c for c in curves.values()):
        return []
    rows = []
    for i, q in enumerate(curves[1.0]["quality"]):
        row = {"quality": q, "bpp": curves[1.0]["bpp"][i]}
        for k, c in curves.items():
            j = c["quality"].index(q) if q in c["quality"] else None
            row[f"{k:g}"] = None if j is None else {m: c[m][j] for m in ("fid", "kid", "psnr-rgb")}
        rows.append(row)
    return rows


NIC_QUALITIES, BPG_QPS = (0, 10, 20, 30), (47, 44, 42, 40, 38, 36, 32)


def independent(files: list[Path]) -> dict:
    """FID and KID of the realism decoder (knob 1), the fidelity decoder (the same files) and BPG
    on Kodak with two feature networks: EfficientNet-Lite0, which the realism decoder's
    perceptual loss uses, and Lite1, which no model's loss uses (the honest one).  Each FID comes
    with the criterion (realism FID below BPG's at twice the bitrate, interpolated in log bpp) and
    a 90% interval of that difference from a paired bootstrap over images (a set's own FID is
    biased under resampling; a difference between sets of the same images is what it can bound)."""
    import hific_codec

    from . import fid

    nets = {"lite0": fid.EfficientNetLite0(), "lite1": fid.EfficientNetLite1()}
    bpg = codecs.get("bpg")
    bpg.check()
    sets: dict[str, dict] = {}  # name -> {"bpp": [per image], "feats": {net: [per image]}}

    def add(name: str, img: np.ndarray, nbytes: int, h: int, w: int) -> None:
        e = sets.setdefault(name, {"bpp": [], "psnr": [], "feats": {k: [] for k in nets}})
        e["bpp"].append(8 * nbytes / (h * w))
        e["psnr"].append(metrics.psnr(img, ref_img))
        for k, net in nets.items():
            e["feats"][k].append(net(fid.patches(img)).astype(np.float64))

    for k, path in enumerate(files):
        ref_img = np.asarray(Image.open(path).convert("RGB"))
        h, w = ref_img.shape[:2]
        add("original", ref_img, 0, h, w)
        for q in NIC_QUALITIES:
            data = hific_codec.encode(ref_img, quality=q)
            add(f"realism q{q}", hific_codec.decode(data, decoder="realism", realism=1.0), len(data), h, w)
            add(f"fidelity q{q}", hific_codec.decode(data, decoder="fidelity"), len(data), h, w)
        for qp in BPG_QPS:
            data = bpg.encode(ref_img, qp)
            add(f"bpg qp{qp}", bpg.decode(data), len(data), h, w)
        print(f"{k + 1}/{len(files)} {path.name}", flush=True)
    out = {"images": len(files), "patches_per_set": int(sum(len(f) for f in sets["original"]["feats"]["lite1"])),
           "labels": {k: n.label for k, n in nets.items()}, "points": {}, "criterion": {}}
    for net in nets:
        ref = sets["original"]["feats"][net]
        for name, e in sets.items():
            if name == "original":
                continue
            f = e["feats"][net]
            pt = out["points"].setdefault(name, {"bpp": float(np.mean(e["bpp"])), "psnr": float(np.mean(e["psnr"]))})
            pt[net] = {"fid": fid.fid_small(np.concatenate(ref), np.concatenate(f)),
                       "kid": fid.kid(np.concatenate(ref), np.concatenate(f))}
        bpg_names = [f"bpg qp{qp}" for qp in BPG_QPS]
        lb = np.log([out["points"][n]["bpp"] for n in bpg_names])
        order = np.argsort(lb)
        for q in NIC_QUALITIES:
            name = f"realism q{q}"
            target = np.log(2 * out["points"][name]["bpp"])
            if not lb.min() <= target <= lb.max():
                continue

            def gap(r, x, *bs, target=target, xs=lb[order], order=order):
                at = np.interp(target, xs, np.array([fid.fid_small(r, b) for b in bs])[order])
                return fid.fid_small(r, x) - at

            groups = [ref, sets[name]["feats"][net]] + [sets[n]["feats"][net] for n in bpg_names]
            full = gap(*(np.concatenate(g) for g in groups))
            out["criterion"].setdefault(name, {})[net] = {"gap": full, "gap_90": fid.bootstrap(gap, groups)}
    return out


REPEATS = 9  # 3 proved too few on this shared machine: medians moved by 0.1 s between runs


def decode_times(image: Path, quality: float, repeats: int = REPEATS) -> dict:
    """Median decode seconds of one file: fidelity vs realism decoder, and BPG's decoder on a file of
    similar size, measured side by side in this process."""
    import hific_codec

    rgb = np.asarray(Image.open(image).convert("RGB"))
    nic = hific_codec.encode(rgb, quality=quality)
    for r in (None, 1.0, 0.5):  # build each decoder form outside the timings
        hific_codec.decode(nic, decoder="fidelity" if r is None else "realism", realism=r)
    bpg = codecs.get("bpg")
    bpg.check()
    bd, _ = _match(bpg, rgb, len(nic), 0, 51, rising=False)

    def med(fn) -> float:
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return float(np.median(ts))

    t = {"fidelity": med(lambda: hific_codec.decode(nic, decoder="fidelity")),
         "realism": med(lambda: hific_codec.decode(nic, decoder="realism", realism=1.0)),
         "realism_0.5": med(lambda: hific_codec.decode(nic, decoder="realism", realism=0.5)),
         "bpg": med(lambda: bpg.decode(bd))}
    return {"image": image.name, "size": f"{rgb.shape[1]}x{rgb.shape[0]}", "quality": quality,
            "nic_bytes": len(nic), "bpg_bytes": len(bd), "seconds": t}


def main(argv: list[str] | None = None) -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="kodak,clic,div2k")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--criterion-only", action="store_true",
                    help="recompute the FID criterion from the dataset reports; keep the grids and timings")
    ap.add_argument("--independent", action="store_true",
                    help="measure FID/KID on Kodak with EfficientNet-Lite0 and Lite1 and intervals; keep the rest")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    from hific_codec import zoo

    OUT.mkdir(parents=True, exist_ok=True)
    if a.independent:
        summary = json.loads((OUT / "realism.json").read_text())
        summary["independent"] = independent(datasets.resolve("kodak")[1])
        (OUT / "realism.json").write_text(json.dumps(summary, indent=1))
        (OUT / "REALISM.md").write_text(markdown(summary))
        print(f"report: {OUT / 'REALISM.md'}")
        return 0
    if a.criterion_only:
        summary = json.loads((OUT / "realism.json").read_text())
        summary["criterion"] = {d: criterion(d) for d in a.datasets.split(",")}
        summary["knob_fid"] = knob_fid("kodak")
        (OUT / "realism.json").write_text(json.dumps(summary, indent=1))
        (OUT / "REALISM.md").write_text(markdown(summary))
        print(f"report: {OUT / 'REALISM.md'}")
        return 0
    _, kodak = datasets.resolve("kodak")
    by_name = {p.name: p for p in kodak}
    crit = {d: criterion(d) for d in a.datasets.split(",")}
    grids = []
    for name, box in (("kodim23.png", (120, 220, 256)), ("kodim14.png", (200, 300, 256))):
        png = OUT / f"grid_{Path(name).stem}.png"
        grids.append((png.name, grid(by_name[name], (0, 10, 20), box, png)))
    times = decode_times(by_name["kodim23.png"], 10)
    e = zoo.get()
    r = zoo.realism_for(e)
    summary = {"model": e.name, "generator": r.name if r else None, "generator_sha256": r.sha256 if r else None,
               "generator_train_hours": r.train_hours if r else None,
               "generator_latents": r.latents if r else None, "criterion": crit, "grids": grids,
               "decode_times": times, "machine": report.machine_summary(a.threads),
               "knob_path": knob_path(by_name["kodim23.png"], 10), "knob_fid": knob_fid("kodak")}
    (OUT / "realism.json").write_text(json.dumps(summary, indent=1))
    (OUT / "REALISM.md").write_text(markdown(summary))
    print(f"report: {OUT / 'REALISM.md'}")
    return 0


def _f(v, fmt="{:.1f}") -> str:
    return "–" if v is None else fmt.format(v)


def markdown(s: dict) -> str:
    L = ["# Realism decoder (HiFiC-style GAN) vs BPG", "",
         f"Generator `{s['generator']}` ({(s['generator_sha256'] or '')[:8]}, {s['generator_train_hours']} h CPU training"
         + (f", reading {s['generator_latents']} latents" if s.get("generator_latents") else "")
         + f") on model `{s['model']}`; machine: {s['machine']}.  FID/KID use EfficientNet-Lite0 features on 256x256 "
         "patches (not Inception FID); the curves and per-point tables are in each dataset's REPORT.md.", "",
         "## Criterion: realism FID below BPG's FID at twice the bitrate, at <= 0.2 bpp", ""]
    for d, rows in s["criterion"].items():
        L += [f"### {d}", ""]
        if not rows:
            L += ["(no realism points at or below 0.2 bpp, or the dataset report is missing)", ""]
            continue
        L += [("| NIC q | bpp | realism FID | BPG FID at 2x bpp | fidelity FID (same file) | realism KID x1000 | "
              "BPG KID x1000 at 2x | realism PSNR | fidelity PSNR | FID below BPG@2x |"),
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|"]
        for r in rows:
            L.append(f"| {r['quality']:g} | {r['bpp']:.3f} | {r['fid']:.1f} | {_f(r['bpg_fid_2x'])} | {_f(r['fidelity_fid'])} "
                     f"| {1000 * r['kid']:.1f} | {_f(r['bpg_kid_2x'] and 1000 * r['bpg_kid_2x'])} | {r['psnr']:.2f} "
                     f"| {_f(r['fidelity_psnr'], '{:.2f}')} | {'yes' if r['pass'] else 'no'} |")
        L.append("")
    if s.get("knob_path"):
        L += ["## The realism knob", "", ("kodim23, NIC quality 10, one file decoded along the knob (0 = the fidelity "
              "decoder): mean absolute difference from the fidelity decoder's pixels, and PSNR."), "",
              "| knob | mean abs. diff. from fidelity (levels) | PSNR |", "|---:|---:|---:|"]
        L += [f"| {r['knob']:g} | {r['mad_from_fidelity']:.2f} | {r['psnr']:.2f} |" for r in s["knob_path"]]
        L.append("")
    if s.get("knob_fid"):
        L += ["Kodak, FID / KID x1000 / PSNR at knob 0, 0.5 and 1 (the same files):", "",
              "| NIC q | bpp | knob 0 | knob 0.5 | knob 1 |", "|---:|---:|---|---|---|"]
        for r in s["knob_fid"]:
            cells = [("–" if r[k] is None else f"{r[k]['fid']:.1f} / {1000 * r[k]['kid']:.1f} / {r[k]['psnr-rgb']:.2f}")
                     for k in ("0", "0.5", "1")]
            L.append(f"| {r['quality']:g} | {r['bpp']:.3f} | " + " | ".join(cells) + " |")
        L.append("")
    if s.get("independent"):
        L += _independent_md(s["independent"])
    t = s["decode_times"]
    sec = t["seconds"]
    L += ["## Decode time", "",
          (f"{t['image']} ({t['size']}), NIC quality {t['quality']:g} ({t['nic_bytes']} B) and a BPG file of similar "
          f"size ({t['bpg_bytes']} B); median of {REPEATS}, same process, one after the other."), "",
          "| decoder | seconds | / BPG |", "|---|---:|---:|"]
    for k in ("fidelity", "realism", "realism_0.5", "bpg"):
        L.append(f"| {k} | {sec[k]:.3f} | {sec[k] / sec['bpg']:.1f}x |")
    L += ["", "## Visual grids", "",
          ("Columns: original, JPEG, BPG, NIC fidelity, NIC realism (1.0); rows: NIC quality 0, 10, 20 "
          "(JPEG and BPG qualities searched for the closest file size).  Labels give bpp and PSNR."), ""]
    for png, _ in s["grids"]:
        L += [f"![{png}]({png})", ""]
    return "\n".join(L)


def _independent_md(ind: dict) -> list[str]:
    L = ["## FID with a feature network no model was trained against", "",
         (f"Kodak, {ind['images']} images, {ind['patches_per_set']} patches (256x256, two grids) per set, measured in "
          "one run.  **Lite1** ({}) is the figure the targets use from now on; **Lite0** ({}) is the network the realism "
          "decoder's perceptual loss uses, shown for comparison.  With 192 patches FID is biased upwards: compare "
          "sets, not absolute values.  Brackets: 90% interval of the difference from resampling images (paired "
          "bootstrap, 200 rounds).")
         .format(ind["labels"]["lite1"].split(",")[0], ind["labels"]["lite0"].split(",")[0]), "",
         "| set | bpp | PSNR | FID Lite1 | KID×1000 Lite1 | FID Lite0 | KID×1000 Lite0 |",
         "|---|---:|---:|---:|---:|---:|---:|"]
    for name, p in sorted(ind["points"].items(), key=lambda kv: (kv[0].split()[0], kv[1]["bpp"])):
        cells = [name, f"{p['bpp']:.3f}", f"{p['psnr']:.2f}"]
        for net in ("lite1", "lite0"):
            cells += [f"{p[net]['fid']:.1f}", f"{1000 * p[net]['kid']:.1f}"]
        L.append("| " + " | ".join(cells) + " |")
    L += ["", "Criterion, realism FID minus BPG's FID at twice the bitrate (negative: realism is better):", "",
          "| NIC q | bpp | Lite1 gap [90%] | Lite0 gap [90%] |", "|---:|---:|---:|---:|"]
    for name, c in ind["criterion"].items():
        cells = [name.split("q")[-1], f"{ind['points'][name]['bpp']:.3f}"]
        for net in ("lite1", "lite0"):
            g = c[net]
            cells.append(f"{g['gap']:+.1f} [{g['gap_90'][0]:+.1f}, {g['gap_90'][1]:+.1f}]")
        L.append("| " + " | ".join(cells) + " |")
    return [*L, ""]


if __name__ == "__main__":
    raise SystemExit(main())
