import io

import numpy as np
from PIL import Image

import hific_codec  # noqa: F401  (registers the plugin)

from .conftest import psnr


def test_open_save_and_registration(crop, tmp_path):
    assert Image.registered_extensions()[".nic"] == "NIC"
    assert Image.MIME["NIC"] == "image/x-nic"
    path = tmp_path / "a.nic"
    Image.fromarray(crop).save(path, quality=60)
    im = Image.open(path)
    assert (im.format, im.mode, im.size) == ("NIC", "RGB", (256, 192))  # header only, lazy
    assert im.info["quality"] == 60
    arr = np.asarray(im.convert("RGB"))
    assert arr.shape == crop.shape and psnr(crop, arr) > 20


def test_modes_and_file_objects(crop):
    for mode in ("L", "RGBA", "P"):
        src = Image.fromarray(crop).convert(mode)
        buf = io.BytesIO()
        src.save(buf, format="NIC", bpp=0.5)
        buf.seek(0)
        im = Image.open(buf)
        assert im.format == "NIC" and im.size == src.size
        assert im.mode == {"L": "L", "RGBA": "RGBA", "P": "RGB"}[mode]
        im.load()


def test_non_nic_data_is_not_claimed():
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="PNG")
    buf.seek(0)
    assert Image.open(buf).format == "PNG"


def test_metadata_is_kept_and_unknown_options_refused(crop, tmp_path):
    import pytest

    jpg = tmp_path / "src.jpg"
    exif = Image.Exif()
    exif[0x010F] = "NIC test camera"  # Make
    Image.fromarray(crop).save(jpg, exif=exif, icc_profile=b"fake-icc")
    src = Image.open(jpg)
    buf = io.BytesIO()
    src.save(buf, format="NIC", quality=20)
    buf.seek(0)
    im = Image.open(buf)
    assert im.info["icc_profile"] == b"fake-icc" and b"NIC test camera" in im.info["exif"]
    stripped = io.BytesIO()
    src.save(stripped, format="NIC", quality=20, exif=b"", icc_profile=b"")
    stripped.seek(0)
    assert "exif" not in Image.open(stripped).info and "icc_profile" not in Image.open(stripped).info
    with pytest.raises(ValueError, match="unknown NIC save option 'efort'"):
        src.save(io.BytesIO(), format="NIC", efort=3)


XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description dc:title="nic"/></rdf:RDF></x:xmpmeta>'


def test_xmp_travels_from_jpeg_and_png_through_nic_and_back(crop, tmp_path):
    from PIL import PngImagePlugin

    text = PngImagePlugin.PngInfo()
    text.add_itxt("XML:com.adobe.xmp", XMP.decode())
    Image.fromarray(crop).save(tmp_path / "a.png", pnginfo=text)
    Image.fromarray(crop).save(tmp_path / "a.jpg", xmp=XMP)
    for src in ("a.png", "a.jpg"):
        buf = io.BytesIO()
        Image.open(tmp_path / src).save(buf, format="NIC", quality=20)
        buf.seek(0)
        assert Image.open(buf).info["xmp"] == XMP, src
    dropped = io.BytesIO()
    Image.open(tmp_path / "a.jpg").save(dropped, format="NIC", quality=20, xmp=b"")
    dropped.seek(0)
    assert "xmp" not in Image.open(dropped).info
