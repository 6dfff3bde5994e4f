"""`make demo`: encode and decode the image shipped in assets/, print size, quality and timings."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
IMAGE = ROOT / "assets" / "kodim23.png"
OUT = ROOT / "demo_out"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def main() -> int:
    import torch

    import hific_codec
    from hific_codec import allocator, codec, zoo

    torch.set_num_threads(2)
    allocator.tune()  # it decodes repeatedly, like a batch worker (hific_codec/allocator.py)
    rgb = np.asarray(Image.open(IMAGE).convert("RGB"))
    h, w = rgb.shape[:2]
    entry = zoo.get()
    ctx = entry.context
    extra = (f" + context {ctx['sha256'][:8]} ({ctx['train_hours']:.2f} h / {ctx['train_steps']} steps)" if ctx else "")
    gpu = f", {entry.gpu_hours:.3f} h of it on an H100" if entry.gpu_hours else ""
    print(f"model {entry.model_id} {entry.name} ({entry.sha256[:8]}, trained {entry.train_hours:.2f} h{gpu} / "
          f"{entry.train_steps} steps){extra}, running on CPU")
    codec.load()  # load weights once, outside the timings
    hific_codec.decode(hific_codec.encode(rgb[:64, :64]))  # warm-up: first-call kernel setup
    OUT.mkdir(exist_ok=True)
    print(f"{IMAGE.name}: {w}x{h}, torch threads {torch.get_num_threads()}")
    print(f"{'quality':>8} {'bytes':>8} {'bpp':>7} {'PSNR dB':>8} {'encode s':>9} {'decode s':>9}")
    for q in (10, 30, 50, 70, 90):
        t0 = time.perf_counter()
        data = hific_codec.encode(rgb, quality=q)
        t1 = time.perf_counter()
        out = hific_codec.decode(data)
        t2 = time.perf_counter()
        (OUT / f"kodim23_q{q}.nic").write_bytes(data)
        Image.fromarray(out).save(OUT / f"kodim23_q{q}.png")
        print(f"{q:>8} {len(data):>8} {len(data) * 8 / (h * w):>7.3f} {psnr(rgb, out):>8.2f} {t1 - t0:>9.3f} {t2 - t1:>9.3f}")
    if zoo.realism_for(entry) is not None:
        data = (OUT / "kodim23_q10.nic").read_bytes()
        hific_codec.decode(data, decoder="realism")  # builds the generator once, outside the timing
        t0 = time.perf_counter()
        out = hific_codec.decode(data, decoder="realism")
        dt = time.perf_counter() - t0
        Image.fromarray(out).save(OUT / "kodim23_q10_realism.png")
        print(f"same q10 file, realism decoder: PSNR {psnr(rgb, out):.2f} dB, decode {dt:.3f} s "
              f"-> {OUT.relative_to(ROOT)}/kodim23_q10_realism.png")
    overfit_demo(rgb)
    lossless_demo(rgb)
    print(f"outputs in {OUT.relative_to(ROOT)}/  (try: .venv/bin/nic info {OUT.relative_to(ROOT)}/kodim23_q50.nic)")
    return 0


def overfit_demo(rgb: np.ndarray, seconds: float = 20.0) -> None:
    """Overfitted coding (effort 3 and up) on a 256x256 crop, against the default coder at the same rate."""
    import hific_codec

    crop = np.ascontiguousarray(rgb[128:384, 256:512])
    t0 = time.perf_counter()
    data = hific_codec.encode(crop, quality=50, effort=3, seconds=seconds)
    t1 = time.perf_counter()
    out = hific_codec.decode(data)
    t2 = time.perf_counter()
    (OUT / "kodim23_crop_overfit.nic").write_bytes(data)
    Image.fromarray(out).save(OUT / "kodim23_crop_overfit.png")
    i = hific_codec.info(data)
    n = crop.shape[0] * crop.shape[1]
    base = hific_codec.encode(crop, bpp=len(data) * 8 / n)  # the fast coder at the same rate
    print(f"overfitted coding of a 256x256 crop ({seconds:.0f} s of fitting; a whole image at effort 3 takes "
          f"minutes): {len(data)} bytes ({i.weight_bytes} of them the decoder's weights), "
          f"{len(data) * 8 / n:.3f} bpp, PSNR {psnr(crop, out):.2f} dB (default coder at {len(base) * 8 / n:.3f} bpp: "
          f"{psnr(crop, hific_codec.decode(base)):.2f} dB), encode {t1 - t0:.1f} s, decode {t2 - t1:.3f} s")


def lossless_demo(rgb: np.ndarray) -> None:
    """Lossless coding of a 96x128 crop, against PNG at its strongest setting."""
    import io

    import hific_codec

    crop = np.ascontiguousarray(rgb[176:272, 288:416])
    t0 = time.perf_counter()
    data = hific_codec.encode(crop, lossless=True)
    t1 = time.perf_counter()
    exact = np.array_equal(hific_codec.decode(data), crop)
    t2 = time.perf_counter()
    (OUT / "kodim23_crop_lossless.nic").write_bytes(data)
    png = io.BytesIO()
    Image.fromarray(crop).save(png, format="PNG", optimize=True, compress_level=9)
    print(f"lossless coding of a 96x128 crop: {len(data)} bytes (PNG: {len(png.getvalue())}), decoded "
          f"{'bit for bit' if exact else 'WRONG'}, encode {t1 - t0:.1f} s, decode {t2 - t1:.2f} s")


if __name__ == "__main__":
    sys.exit(main())
