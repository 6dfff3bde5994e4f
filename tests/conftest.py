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


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))
