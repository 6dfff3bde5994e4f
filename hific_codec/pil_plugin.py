"""Pillow plugin: ``Image.open("x.nic")`` and ``im.save("x.nic", quality=50)``.

Opening reads only the header chunk (no torch); pixels are decoded on ``load()``.
"""
from __future__ import annotations

from PIL import Image, ImageFile

import bitstream

FORMAT = "NIC"
_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
SAVE_OPTIONS = {"quality", "bpp", "effort", "seconds", "realism", "model", "icc_profile", "exif", "xmp", "roi",
                "roi_quality", "aq", "lossless"}
_LOSSLESS_CONVERTIBLE = {"1", "P", "PA", "LA", "La", "RGBa", "RGBX"}  # to L/RGB/RGBA without losing a value


def _accept(prefix: bytes) -> bool:
    return prefix[:4] == bitstream.MAGIC


class NicImageFile(ImageFile.ImageFile):
    format = FORMAT
    format_description = "NIC learned image codec"

    def _open(self) -> None:
        data = self.fp.read()
        try:
            f = bitstream.read(data)
        except bitstream.FormatError as e:
            raise SyntaxError(f"not a valid .nic file: {e}") from None
        h = f.header
        self._data = data
        self._mode = _MODES[h.channels]
        self._size = (h.width, h.height)
        self.info["quality"] = h.quality
        if f.icc:
            self.info["icc_profile"] = f.icc
        if f.exif:
            self.info["exif"] = f.exif
        if f.xmp:
            self.info["xmp"] = f.xmp
        self.tile = []

    def load(self):
        if self._data is not None:  # decode once, then hand Pillow the raw pixels
            from io import BytesIO

            from .api import decode

            # Image.open already refused sizes over 2 x MAX_IMAGE_PIXELS from the header; the
            # limit is applied again here, where the work is, in case it changed since
            limit = Image.MAX_IMAGE_PIXELS
            if limit and self.size[0] * self.size[1] > 2 * limit:
                raise Image.DecompressionBombError(
                    f"Image size ({self.size[0] * self.size[1]} pixels) exceeds limit of {2 * limit} pixels, "
                    "could be decompression bomb DOS attack.")
            raw = decode(self._data).tobytes()
            self._data = None
            if self.fp and self._exclusive_fp:
                self.fp.close()
            self.fp = BytesIO(raw)
            self.tile = [ImageFile._Tile("raw", (0, 0, *self.size), 0, self.mode)]
        return super().load()


def _save(im: Image.Image, fp, filename) -> None:
    import numpy as np

    from .api import encode

    info = im.encoderinfo
    unknown = sorted(set(info) - SAVE_OPTIONS)
    if unknown:  # a misspelt option silently ignored would write a file the user did not ask for
        raise ValueError(f"unknown NIC save option {unknown[0]!r}; known: {', '.join(sorted(SAVE_OPTIONS))}")
    # the image's own metadata is kept unless the call overrides it (exif=b"" drops it), as `nic encode` does
    icc = info.get("icc_profile", im.info.get("icc_profile"))
    exif = info.get("exif", im.info.get("exif"))
    if isinstance(exif, Image.Exif):
        exif = exif.tobytes()
    xmp = info.get("xmp", im.info.get("xmp"))
    if isinstance(xmp, str):  # PNG gives text
        xmp = xmp.encode("utf-8")
    lossless = bool(info.get("lossless", False))
    if lossless and im.mode not in ("L", "RGB", "RGBA") and im.mode not in _LOSSLESS_CONVERTIBLE:
        raise ValueError(f"lossless NIC keeps 8-bit L, RGB and RGBA; mode {im.mode} would lose values: "
                         "convert the image first if that is what you want")
    if im.mode not in ("L", "RGB", "RGBA"):
        im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
    data = encode(np.asarray(im), quality=info.get("quality"), bpp=info.get("bpp"), icc=icc or None,
                  exif=exif or None, xmp=xmp or None, effort=info.get("effort", 0), seconds=info.get("seconds"),
                  realism=info.get("realism"), model=info.get("model"), roi=info.get("roi"),
                  roi_quality=info.get("roi_quality"), aq=info.get("aq", False), lossless=lossless)
    fp.write(data)


Image.register_open(FORMAT, NicImageFile, _accept)
Image.register_save(FORMAT, _save)
Image.register_extension(FORMAT, ".nic")
Image.register_mime(FORMAT, "image/x-nic")
