"""A visual comparison page: every codec at a few target rates, the same crop side by side.

    python -m benchmarks.compare                          # Kodak, 0.1 / 0.25 / 0.5 bpp
    python -m benchmarks.compare --images kodim23,kodim05 --rates 0.1,0.25 --crop 256
    python -m benchmarks.compare --codecs nic,bpg,jpeg --out /tmp/page --selftest

For each image and target rate each codec is encoded at the setting whose whole-image file is
closest to the rate (its quality sweep, then bisection between the two settings that bracket the
rate; effort 1 takes effort 0's setting, and ``nic-e3``, the overfitted level, is encoded once per
rate with its own rate target).  The
page shows one crop of each result beside the original, a before/after slider, 1:1 and 2:1 zoom,
and under each crop the whole image's real bpp, PSNR-RGB and MS-SSIM; the Kodak report's RD plots
and BD-rate table follow.  The folder is self-contained (index.html, compare.js, compare.css,
lossless WebP crops) and works from file:// offline.  Results are cached per (image, codec, rate)
under the output folder, so a page can be built up over several runs.

``--selftest`` opens the page in headless Chromium (where installed) and checks that every image
loads and that the slider moves (the page's own ``#selftest`` hook), and saves a screenshot.
"""
from __future__ import annotations

import argparse
import html
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from . import codecs, datasets, metrics, report

RESULTS = Path(__file__).resolve().parent / "results"
OUT = RESULTS / "compare"
CODECS = ("nic", "nic-realism-half", "nic-realism", "nic-e1", "bpg", "jpeg", "webp", "avif", "jxl")
RATES = (0.1, 0.25, 0.5)
IMAGES = ("kodim23", "kodim05")
STATIC = Path(__file__).resolve().parent / "compare_page"
SEARCH_STEPS = 6
# A slow codec's setting is searched with a fast one of the same rate scale: effort 1 refines the
# latents of effort 0 at the same quality (its files come out within a few % of the rate).
SEARCH_WITH = {"nic-e1": "nic"}
# The settings' full range where the report's sweep stops short of it (low rates need them).
BOUNDS = {"bpg": (1, 51), "jpeg": (1, 100), "webp": (0, 100), "avif": (0, 100)}


def _bpp(data: bytes, rgb: np.ndarray) -> float:
    return 8 * len(data) / (rgb.shape[0] * rgb.shape[1])


def closest(encode, qualities, target: float, integer: bool) -> tuple[object, bytes]:
    """The setting (of ``qualities``, refined by bisection) whose file is closest to ``target`` bpp
    in log rate, and its bytes.  Works whichever way the rate moves with the setting."""
    tried = {}

    def at(q):
        if q not in tried:
            tried[q] = encode(q)
        return tried[q][1]

    def best():
        q = min(tried, key=lambda k: abs(np.log(max(tried[k][1], 1e-9) / target)))
        return q, tried[q][0]

    qs = sorted(set(qualities))
    rates = [at(q) for q in qs]
    lo = next((i for i in range(len(qs) - 1) if (rates[i] - target) * (rates[i + 1] - target) <= 0), None)
    if lo is None:
        return best()
    a, b = qs[lo], qs[lo + 1]
    for _ in range(SEARCH_STEPS):
        m = (a + b) // 2 if integer else (a + b) / 2
        if m in (a, b):
            break
        if (at(a) - target) * (at(m) - target) <= 0:
            b = m
        else:
            a = m
    return best()


def _encode_point(name: str, rgb: np.ndarray, rate: float) -> tuple[object, bytes, np.ndarray, float, float]:
    """(setting, file bytes, decoded pixels, encode s, decode s) of one codec at one target rate."""
    if name == "nic-e3":
        import hific_codec

        t0 = time.perf_counter()
        data = hific_codec.encode(rgb, 50, effort=3, bpp=rate)
        t1 = time.perf_counter()
        out = hific_codec.decode(data)
        return f"bpp={rate}", data, out, t1 - t0, time.perf_counter() - t1
    c = codecs.get(name)
    c.check()
    s = codecs.get(SEARCH_WITH[name]) if name in SEARCH_WITH else c
    s.check()

    def enc(q):
        data = s.encode(rgb, q)
        return data, _bpp(data, rgb)

    integer = all(float(q).is_integer() for q in s.qualities)
    q, _ = closest(enc, (*s.qualities, *BOUNDS.get(s.name, ())), rate, integer)
    t0 = time.perf_counter()
    data = c.encode(rgb, q)  # timed alone, not inside the search
    t1 = time.perf_counter()
    out = c.decode(data)
    return q, data, out, t1 - t0, time.perf_counter() - t1


def crop_box(shape: tuple[int, int], size: int, at: tuple[int, int] | None) -> tuple[int, int, int, int]:
    h, w = shape
    size = min(size, h, w)
    i, j = at if at is not None else ((h - size) // 2, (w - size) // 2)
    i, j = max(0, min(i, h - size)), max(0, min(j, w - size))
    return i, j, i + size, j + size


def _save_crop(rgb: np.ndarray, box, path: Path) -> None:
    i0, j0, i1, j1 = box
    Image.fromarray(np.ascontiguousarray(rgb[i0:i1, j0:j1])).save(path, "WEBP", lossless=True, quality=100, method=6)


def measure(images: list[Path], names: list[str], rates: list[float], out: Path, size: int,
            at: tuple[int, int] | None, log=print) -> list[dict]:
    """Encode, decode and crop every (image, codec, rate); cached as out/cache/*.json + crops."""
    (out / "img").mkdir(parents=True, exist_ok=True)
    (out / "cache").mkdir(exist_ok=True)
    points = []
    for path in images:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        box = crop_box(rgb.shape[:2], size, at)
        orig = out / "img" / f"{path.stem}-original.webp"
        if not orig.exists():
            _save_crop(rgb, box, orig)
        for name in names:
            for rate in rates:
                key = f"{path.stem}-{name}-{rate:g}"
                cached = out / "cache" / f"{key}.json"
                if cached.exists():
                    p = json.loads(cached.read_text())
                    if p.get("box") == list(box):
                        points.append(p)
                        continue
                try:
                    q, data, dec, te, td = _encode_point(name, rgb, rate)
                except codecs.CodecUnavailable as e:
                    log(f"skipped {name}: {e}")
                    break
                _save_crop(dec, box, out / "img" / f"{key}.webp")
                p = {"image": path.stem, "codec": name, "rate": rate, "setting": q, "bytes": len(data),
                     "bpp": _bpp(data, rgb), "psnr-rgb": metrics.psnr(rgb, dec), "ms-ssim": metrics.ms_ssim(rgb, dec),
                     "encode_s": te, "decode_s": td, "box": list(box), "crop": f"img/{key}.webp"}
                cached.write_text(json.dumps(p, indent=1))
                log(f"{key}: setting {q}, {p['bpp']:.3f} bpp, {p['psnr-rgb']:.2f} dB")
                points.append(p)
    return points


def _setting(q) -> str:
    return f"q {q:.4g}" if isinstance(q, float) else f"q {q}" if isinstance(q, int) else str(q)


def _figure(p: dict) -> str:
    label = html.escape(p["codec"])
    return (f'<figure class="cell" data-codec="{label}"><img src="{p["crop"]}" alt="{label}">'
            f'<figcaption><b>{label}</b> <span class="setting">({html.escape(_setting(p["setting"]))})</span><br>'
            f'{p["bpp"]:.3f} bpp · {p["psnr-rgb"]:.2f} dB · MS-SSIM {p["ms-ssim"]:.4f}</figcaption></figure>')


def _bd_html(curves: dict) -> str:
    if "bpg" not in curves:
        return "<p>No Kodak report curves found.</p>"
    rows = "".join(f"<tr><td>{html.escape(n)}</td><td>{a:+.1f}%</td><td>{b:+.1f}%</td></tr>"
                   for n, a, b in report.bd_table(curves, "bpg"))
    return ("<table class='bd'><tr><th>codec</th><th>BD-rate PSNR-RGB</th><th>BD-rate MS-SSIM</th></tr>"
            f"{rows}</table>")


def page(points: list[dict], out: Path, rates: list[float], note: str) -> Path:
    """index.html from the measured points, the static script and style, and the report's plots."""
    for f in ("compare.js", "compare.css"):
        shutil.copyfile(STATIC / f, out / f)
    kodak = RESULTS / "kodak"
    plots = []
    for f in ("rd_psnr.png", "rd_msssim.png"):
        if (kodak / f).exists():
            shutil.copyfile(kodak / f, out / f)
            plots.append(f'<img class="plot" src="{f}" alt="{f}">')
    curves, _ = report.kept(kodak, set()) if kodak.exists() else ({}, [])
    sections = []
    for image in dict.fromkeys(p["image"] for p in points):
        for rate in rates:
            row = [p for p in points if p["image"] == image and p["rate"] == rate]
            if not row:
                continue
            orig = f"img/{image}-original.webp"
            options = "".join(f'<option value="{p["crop"]}">{html.escape(p["codec"])} · {p["bpp"]:.3f} bpp</option>'
                              for p in row)
            sections.append(
                f'<section class="set"><h2>{html.escape(image)} at about {rate:g} bpp</h2>'
                f'<div class="slider"><div class="stage"><img class="under" src="{orig}" alt="original">'
                f'<img class="over" src="{row[0]["crop"]}" alt="compressed"></div>'
                f'<label>left: original · right: <select>{options}</select></label>'
                f'<input type="range" min="0" max="100" value="50" aria-label="split"></div>'
                f'<div class="grid"><figure class="cell"><img src="{orig}" alt="original"><figcaption><b>original</b>'
                f'</figcaption></figure>{"".join(_figure(p) for p in row)}</div></section>')
    body = "\n".join(sections)
    doc = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>NIC: codecs side by side</title>
<link rel="stylesheet" href="compare.css"></head>
<body>
<h1>Codecs side by side</h1>
<p>{html.escape(note)}</p>
<p>Zoom: <button data-zoom="1">1:1</button> <button data-zoom="2">2:1</button></p>
{body}
<h2>Rate–distortion on Kodak (24 images)</h2>
{"".join(plots)}
{_bd_html(curves)}
<pre id="selftest" hidden></pre>
<script src="compare.js"></script>
</body></html>
"""
    path = out / "index.html"
    path.write_text(doc)
    return path


def chromium() -> str | None:
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


def selftest(index: Path, screenshot: Path | None = None, timeout: float = 60) -> str:
    """Run the page's ``#selftest`` hook in headless Chromium -> its report ("ok ..." or what failed)."""
    exe = chromium()
    if exe is None:
        raise FileNotFoundError("headless Chromium is not installed (apt-get install chromium)")
    url = index.resolve().as_uri() + "#selftest"
    flags = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
             "--virtual-time-budget=5000"]
    dom = subprocess.run(flags + ["--dump-dom", url], capture_output=True, text=True, timeout=timeout,
                         check=False).stdout
    start = dom.find('<pre id="selftest"')
    report_ = dom[dom.find(">", start) + 1 : dom.find("</pre>", start)] if start >= 0 else "no self-test output"
    if screenshot is not None:
        subprocess.run(flags + [f"--screenshot={screenshot}", "--window-size=1280,1600", url],
                       capture_output=True, timeout=timeout, check=False)
    return html.unescape(report_).strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="kodak")
    ap.add_argument("--images", default=",".join(IMAGES), help="image stems, or 'all'")
    ap.add_argument("--codecs", default=",".join(CODECS), help=f"registry names and nic-e3; default {','.join(CODECS)}")
    ap.add_argument("--rates", default=",".join(f"{r:g}" for r in RATES))
    ap.add_argument("--crop", type=int, default=256, help="crop side in pixels")
    ap.add_argument("--at", help="crop's top-left row,column (default: centred)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--selftest", action="store_true", help="check the page in headless Chromium")
    a = ap.parse_args(argv)
    try:
        _, files = datasets.resolve(a.dataset)
        stems = None if a.images == "all" else a.images.split(",")
        images = [f for f in files if stems is None or f.stem in stems]
        names = a.codecs.split(",")
        for n in names:
            if n != "nic-e3" and n not in codecs.REGISTRY:
                raise ValueError(f"unknown codec {n!r}; known: {', '.join(sorted(codecs.REGISTRY))}, nic-e3")
        rates = [float(r) for r in a.rates.split(",")]
        at = tuple(int(v) for v in a.at.split(",")) if a.at else None
    except (ValueError, datasets.DatasetMissing) as e:
        print(f"compare: {e}", file=sys.stderr)
        return 2
    if not images:
        print(f"compare: no image of {a.dataset} matches {a.images}", file=sys.stderr)
        return 2
    points = measure(images, names, rates, a.out, a.crop, at, log=lambda s: print(s, flush=True))
    note = (f"{a.dataset}: a {a.crop}x{a.crop} crop of each image; every codec at the setting whose whole-image "
            f"file is closest to the rate. Figures are for the whole image, from real file sizes. "
            f"{report.machine_summary()}.")
    index = page(points, a.out, rates, note)
    size = sum(f.stat().st_size for f in a.out.rglob("*")
               if f.is_file() and "cache" not in f.parts and f.name != "screenshot.png")
    print(f"wrote {index} ({size / 1e6:.1f} MB with its images)")
    if a.selftest:
        print(selftest(index, a.out / "screenshot.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
