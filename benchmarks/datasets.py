"""Where benchmark images live.  Datasets are never shipped in the repo."""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data"  # this project's shared data folder, when present
DATASETS = {  # name -> folder under the data root
    "kodak": "kodak",
    "clic": "clic/professional_valid_512px",  # a 5-image derived subset: not the CLIC benchmark
    "div2k": "div2k_valid/downscaled_512px/HR",  # 3 downscaled images: a sanity check, not DIV2K
}
SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm"}


class DatasetMissing(FileNotFoundError):
    pass


def data_root() -> Path:
    return Path(os.environ.get("NIC_DATA", DEFAULT_DATA))


def resolve(name: str | None, root: str | None = None) -> tuple[str, list[Path]]:
    """Return (dataset label, sorted image paths)."""
    if root:
        folder, label = Path(root), name or Path(root).name
    else:
        if name not in DATASETS:
            raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)} (or pass --root DIR)")
        folder, label = data_root() / DATASETS[name], name
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in SUFFIXES and not p.name.startswith("."))
    if not files:
        raise DatasetMissing(
            f"no images for {label!r} in {folder}. Put the images there, set NIC_DATA to a folder "
            f"containing {DATASETS.get(label, '<name>')}/, or pass --root DIR."
        )
    return label, files
