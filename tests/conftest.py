from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
ASSET = ROOT / "assets" / "kodim23.png"


@pytest.fixture(scope="session")
def kodim23() -> np.ndarray:
    return np.asarray(Image.open(ASSET).convert("RGB"))


@pytest.fixture(scope="session")
def crop(kodim23) -> np.ndarray:
    """A 192x256 crop with detail (parrot heads): fast to code, still a real photo."""
    return np.ascontiguousarray(kodim23[100:292, 200:456])


MODE_SHAPES = [(1, 1, 3), (7, 5, 3), (33, 17), (40, 48, 4)]  # tiny, odd, grey, RGBA


def in_mode(crop: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A piece of ``crop`` of ``shape``: (h, w) grey, (h, w, 3) RGB or (h, w, 4) RGBA (alpha 200)."""
    a = crop[: shape[0], : shape[1]]
    if len(shape) == 2:
        a = a[:, :, 0]
    elif shape[2] == 4:
        a = np.dstack([a, np.full(a.shape[:2], 200, np.uint8)])
    return np.ascontiguousarray(a)


def scrambled(payload: bytes, rng: np.random.Generator, k: int = 3) -> bytes:
    """``payload`` with ``k`` random bytes set to random values."""
    p = bytearray(payload)
    for i in rng.integers(0, len(p), k):
        p[i] = int(rng.integers(0, 256))
    return bytes(p)


def decodes_or_refuses(data: bytes, seconds: float = 5.0) -> None:
    """Decoding ``data`` ends in an image or a FormatError (nothing else), within ``seconds``."""
    import time

    import hific_codec
    from bitstream import FormatError

    t0 = time.perf_counter()
    try:
        hific_codec.decode(data)
    except FormatError:
        pass
    assert time.perf_counter() - t0 < seconds


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def check_tiled_round_trip(model, crop: np.ndarray, quality: float = 60.0) -> None:
    """Coding in 64x128-px tiles (each tile its own passes, its context blind outside it) gives
    back every latent as y rounded within half a step, in one stream per tile."""
    import bitstream
    from hific_codec import codec

    grid = bitstream.TileGrid(64, 128)
    a = codec.analyse(model, crop)
    z, ys = codec.code(model, a, quality, grid)
    got = codec.decode_latents(model, crop.shape[0], crop.shape[1], z, ys, grid).double().numpy()
    y = (a.y0 * model.net.gain(model.t(quality))).double().numpy()
    assert np.abs(got - y).max() <= 0.5 + 1e-9
    assert len(ys) == grid.count(crop.shape[1], crop.shape[0]) > 4


@pytest.fixture
def scratch_zoo(tmp_path, monkeypatch):
    """A copy of the shipped manifest in a scratch folder, with links to the shipped weights, which
    the zoo then reads and writes: for exports that must not touch the shipped zoo.  The zoo's
    caches are cleared when the test ends (a test clears them itself once an export has changed
    the manifest)."""
    from hific_codec import codec, zoo

    wdir = tmp_path / "weights"
    wdir.mkdir()
    (wdir / "manifest.json").write_text(zoo.MANIFEST.read_text())
    for f in zoo.WEIGHTS_DIR.glob("*.safetensors"):
        (wdir / f.name).symlink_to(f.resolve())
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", wdir)
    monkeypatch.setattr(zoo, "MANIFEST", wdir / "manifest.json")
    yield wdir
    zoo.entries.cache_clear()
    codec.load.cache_clear()
