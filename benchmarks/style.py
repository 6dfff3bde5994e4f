"""Style-transfer plugin report: losses against a Gatys-style optimisation, run time, picture grid.

    python -m benchmarks.style     # writes benchmarks/results/plugins/STYLE.md, style.json, style_grid.png

For each style and content image, the feed-forward network's output and a Gatys et al. (2016)
optimisation of the same image are scored with the *same* objective the network was trained on
(train/style.py: feature content loss + Gram style loss on EfficientNet-Lite0).  The optimisation
starts from the content image and runs Adam on the pixels; it is the per-image optimum the
network approximates in one pass.  Run time: one 768x512 image through the plugin, 2 threads.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from . import datasets, report

OUT = Path(__file__).resolve().parent / "results" / "plugins"
CONTENTS = ("tubingen.jpg", "golden_gate.jpg")


def _load(path: Path, long_side: int) -> np.ndarray:
    im = Image.open(path).convert("RGB")
    s = long_side / max(im.size)
    w, h = round(im.width * s) // 4 * 4, round(im.height * s) // 4 * 4
    return np.asarray(im.resize((w, h), Image.Resampling.LANCZOS))


def main(argv: list[str] | None = None) -> int:
    import torch

    from hific_codec import plugins, zoo
    from hific_codec.train import style as st
    from hific_codec.train.features import shared

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=384, help="long side of the content images for the loss comparison")
    ap.add_argument("--iters", type=int, default=200, help="Gatys optimisation steps")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    root = datasets.data_root() / "style"
    entry = zoo.get("style-4")
    styles = tuple(entry.config["styles"])
    tc = st.StyleTrainConfig(**entry.train_config)
    feats = shared()
    targets = st.style_targets(feats, [sorted((root / "styles").glob(f"{s}.*"))[0] for s in styles], tc.style_size)

    def score(x: torch.Tensor, out: torch.Tensor, s: int) -> tuple[float, float]:
        with torch.no_grad():
            p = st.losses(feats, x, out, targets[s], tc)
        return p["content"].item() / tc.w_content, p["style"].item() / tc.w_style

    rows, grid = [], []
    for c in CONTENTS:
        img = _load(root / "content" / c, a.size)
        x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255
        cells = [img]
        for s, name in enumerate(styles):
            ff = plugins.create(f"style:{name}")(img)
            cells.append(ff)
            y = torch.from_numpy(ff.copy()).permute(2, 0, 1)[None].float() / 255
            # Gatys: optimise the pixels (through a sigmoid, to stay in 0..1) from the content image
            v = torch.logit(x.clamp(0.01, 0.99)).requires_grad_(True)
            opt = torch.optim.Adam([v], lr=0.05)
            t0 = time.perf_counter()
            for _ in range(a.iters):
                loss = sum(st.losses(feats, x, torch.sigmoid(v), targets[s], tc).values())
                opt.zero_grad()
                loss.backward()
                opt.step()
            gatys_s = time.perf_counter() - t0
            ffc, ffs = score(x, y, s)
            gc, gs = score(x, torch.sigmoid(v).detach(), s)
            rows.append({"content": c, "style": name, "size": f"{img.shape[1]}x{img.shape[0]}", "ff_content": ffc,
                         "ff_style": ffs, "gatys_content": gc, "gatys_style": gs, "gatys_seconds": gatys_s,
                         "gatys_iters": a.iters})
        grid.append(np.concatenate(cells, axis=1))
    Image.fromarray(np.concatenate(grid, axis=0)).save(OUT / "style_grid.png")

    # run time on a 768x512 image, the plugin as a user calls it (weights already loaded)
    img = _load(datasets.data_root() / "kodak" / "kodim23.png", 768)
    times = {}
    for name in styles:
        p = plugins.create(f"style:{name}")
        p(img[:64, :64])  # load weights outside the timing
        ts = []
        for _ in range(3):
            t0 = time.perf_counter()
            p(img)
            ts.append(time.perf_counter() - t0)
        times[name] = float(np.median(ts))
    out = {"weights": entry.name, "sha256": entry.sha256, "train_hours": entry.train_hours,
           "train_steps": entry.train_steps, "rows": rows, "seconds_768x512": times,
           "machine": report.machine_summary(a.threads)}
    (OUT / "style.json").write_text(json.dumps(out, indent=1))
    L = ["# Style transfer plugin (`style:<name>`)", "",
         (f"Weights `{entry.name}` ({entry.sha256[:8]}), {entry.train_steps} steps, {entry.train_hours} h CPU training; "
         f"machine: {out['machine']}.  Losses are the training objective's terms, unweighted, on "
         "ImageNet EfficientNet-Lite0 features (not VGG); Gatys = Adam on the pixels for "
         f"{a.iters} steps from the content image, same objective."), "",
         "| content | style | FF content loss | FF style loss | Gatys content loss | Gatys style loss | Gatys s |",
         "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        L.append(f"| {r['content']} ({r['size']}) | {r['style']} | {r['ff_content']:.2f} | {r['ff_style']:.1f} "
                 f"| {r['gatys_content']:.2f} | {r['gatys_style']:.1f} | {r['gatys_seconds']:.0f} |")
    L += ["", "Run time of the plugin on a 768x512 image (median of 3), target < 1 s:", "",
          "| style | seconds |", "|---|---:|"] + [f"| {k} | {v:.3f} |" for k, v in times.items()]
    L += ["", "![style grid](style_grid.png)", "", "Rows: " + ", ".join(CONTENTS) + "; columns: content, "
          + ", ".join(styles) + ".", ""]
    (OUT / "STYLE.md").write_text("\n".join(L))
    print(f"report: {OUT / 'STYLE.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
