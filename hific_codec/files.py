"""Files as the command line and batch mode meet them: reading any image (with its ICC profile
and EXIF, size-checked from the header), writing outputs atomically with the usual file mode, and
the one-line error type both report.
"""
from __future__ import annotations

import io
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path


class CLIError(Exception):
    pass


def read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise CLIError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CLIError(f"{path}: is a directory") from None
    except OSError as e:
        raise CLIError(f"{path}: cannot read ({e.strerror})") from None


def write_atomic(path: str, data: bytes, force: bool) -> None:
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    p = Path(path)
    if p.exists() and not force:
        raise CLIError(f"{path} exists (use --force to overwrite)")
    if not p.parent.is_dir():
        raise CLIError(f"{p.parent}: no such directory")
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=p.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a written file gets the usual mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_ICC_SPACE = {"L": b"GRAY", "RGB": b"RGB ", "RGBA": b"RGB "}  # ICC header bytes 16..19
_ICC_KNOWN_SPACES = {b"XYZ ", b"Lab ", b"Luv ", b"YCbr", b"Yxy ", b"RGB ", b"GRAY", b"HSV ", b"HLS ", b"CMYK", b"CMY "}


def note(text: str) -> None:
    print(f"nic: note: {text}", file=sys.stderr)


@dataclass(frozen=True)
class Metadata:
    """What an image file carries besides its pixels and a `.nic` file keeps: the ICC profile,
    the EXIF block and the XMP packet, as bytes."""

    icc: bytes | None = None
    exif: bytes | None = None
    xmp: bytes | None = None

    def select(self, which: str) -> Metadata:
        """Only what ``--metadata which`` keeps: all, none, or one of icc, exif, xmp."""
        keep = {"all": METADATA_KINDS, "none": ()}.get(which, (which,))
        return Metadata(*(getattr(self, k) if k in keep else None for k in METADATA_KINDS))

    @property
    def size(self) -> int:
        return sum(len(getattr(self, k) or b"") for k in METADATA_KINDS)

    def save_options(self, fmt: str, arr) -> dict:
        """Pillow save options that write this metadata with the image ``arr`` in format ``fmt``:
        what the format can hold, and the ICC profile only where it describes ``arr``'s colour
        space (a plugin may have made a grey image colour)."""
        icc = self.icc if icc_fits(self.icc, image_mode(arr)) else None
        opts = {k: v for k, v in (("icc_profile", icc), ("exif", self.exif)) if v}
        if self.xmp and fmt in ("JPEG", "WEBP", "MPO"):
            opts["xmp"] = self.xmp
        elif self.xmp and fmt == "PNG":
            from PIL import PngImagePlugin

            text = PngImagePlugin.PngInfo()
            text.add_itxt("XML:com.adobe.xmp", self.xmp.decode("utf-8", "replace"))  # XMP's own key in PNG
            opts["pnginfo"] = text
        return opts


METADATA_KINDS = ("icc", "exif", "xmp")


def image_mode(arr) -> str:
    """The Pillow mode of an HxW, HxWx3 or HxWx4 uint8 array."""
    return "L" if arr.ndim == 2 else {3: "RGB", 4: "RGBA"}[arr.shape[2]]


def icc_fits(icc: bytes | None, mode: str) -> bool:
    """False for a profile whose header names a colour space other than ``mode``'s (a CMYK or Lab
    profile of a converted source, a grey profile on colour pixels); True otherwise."""
    space = icc[16:20] if icc and len(icc) >= 128 else None  # an ICC header's data colour space
    return space not in _ICC_KNOWN_SPACES or space == _ICC_SPACE.get(mode)


def load_image(data: bytes, name: str):
    """Bytes of any Pillow-readable image -> (array, `Metadata`).  The size is checked against the
    format's limit from the header alone, before any pixel is decoded."""
    import warnings

    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from bitstream.header import MAX_PIXELS, MAX_SIDE

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own cap follows
            im = Image.open(io.BytesIO(data))
        w, h = im.size
        if w * h > MAX_PIXELS or max(w, h) > MAX_SIDE:
            raise CLIError(f"{name}: {w}x{h} image is larger than the format allows "
                           f"({MAX_PIXELS} pixels, {MAX_SIDE} per side)")
        frames = getattr(im, "n_frames", 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.load()
    except Image.DecompressionBombError:
        raise CLIError(f"{name}: image is larger than the format allows ({MAX_PIXELS} pixels)") from None
    except UnidentifiedImageError:
        raise CLIError(f"{name}: not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise CLIError(f"{name}: damaged image ({e})") from None
    if frames > 1:
        note(f"{name} has {frames} frames; only the first is encoded")
    icc, exif, xmp = im.info.get("icc_profile"), im.info.get("exif"), im.info.get("xmp")
    if isinstance(xmp, str):  # PNG's iTXt gives text, JPEG and WebP bytes
        xmp = xmp.encode("utf-8")
    if im.mode in ("I;16", "I;16B", "I;16L"):
        arr = np.asarray(im).astype(np.uint16)
    elif im.mode in ("L", "RGB", "RGBA"):
        arr = np.asarray(im)
    else:
        has_alpha = "A" in im.mode or "transparency" in im.info
        arr = np.asarray(im.convert("RGBA" if has_alpha else "RGB"))
    if not icc_fits(icc, image_mode(arr)):
        # a CMYK (or Lab, ...) profile describes the source's colour space, not the converted pixels
        note(f"{name}: dropped its {icc[16:20].decode('latin-1').strip() or 'unknown'} ICC profile "
             f"(the pixels were converted from {im.mode})")
        icc = None
    return arr, Metadata(icc, exif or None, xmp or None)
