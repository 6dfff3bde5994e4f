"""The `nic` command: happy paths, stdin/stdout, and one-line errors with no partial outputs."""
import subprocess
import sys

import pytest
from PIL import Image

import hific_codec

from .conftest import ROOT


def nic(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hific_codec", *args], input=stdin, capture_output=True, cwd=ROOT, check=False)


@pytest.fixture(scope="module")
def photo(tmp_path_factory, crop):
    d = tmp_path_factory.mktemp("cli")
    p = d / "photo.png"
    Image.fromarray(crop).save(p, icc_profile=b"fake-icc-profile")
    return p


def assert_clean_error(r: subprocess.CompletedProcess, text: str) -> None:
    err = r.stderr.decode()
    assert r.returncode != 0
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert text in err, err


def test_encode_info_decode(photo, tmp_path):
    out = tmp_path / "p.nic"
    r = nic("encode", str(photo), "-o", str(out), "--quality", "40")
    assert r.returncode == 0, r.stderr
    assert b"bpp" in r.stderr
    info = nic("info", str(out)).stdout.decode()
    assert "NIC 1.4" in info and "context" in info and "256x192" in info and "quality     40" in info and "iccp" in info
    png = tmp_path / "p.png"
    assert nic("decode", str(out), "-o", str(png)).returncode == 0
    im = Image.open(png)
    assert im.size == (256, 192) and im.info.get("icc_profile") == b"fake-icc-profile"


def test_xmp_is_kept_by_default_selected_by_metadata_and_written_on_decode(crop, tmp_path):
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description dc:creator="nic"/></rdf:RDF></x:xmpmeta>'
    src = tmp_path / "x.jpg"
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    Image.fromarray(crop).save(src, xmp=xmp, exif=exif.tobytes(), quality=90)
    kept = {}
    for which in ("all", "xmp", "exif", "none"):
        out = tmp_path / f"{which}.nic"
        assert nic("encode", str(src), "-o", str(out), "-q", "20", "--metadata", which).returncode == 0
        i = hific_codec.info(out.read_bytes())
        kept[which] = (i.xmp == xmp, i.exif is not None)
    assert kept == {"all": (True, True), "xmp": (True, False), "exif": (False, True), "none": (False, False)}
    for ext in ("png", "jpg", "webp"):  # decoding writes it where the output format holds XMP
        img = tmp_path / f"back.{ext}"
        assert nic("decode", str(tmp_path / "all.nic"), "-o", str(img)).returncode == 0
        got = Image.open(img).info.get("xmp")
        assert (got.encode() if isinstance(got, str) else got) == xmp, ext


def test_stdin_stdout_pipeline(photo):
    enc = nic("encode", "-", "-o", "-", "--bpp", "0.6", stdin=photo.read_bytes())
    assert enc.returncode == 0 and enc.stdout[:4] == b"\x89NIC"
    assert len(enc.stdout) * 8 / (256 * 192) <= 0.6
    dec = nic("decode", "-", "-o", "-", stdin=enc.stdout)
    assert dec.returncode == 0 and dec.stdout[:8] == b"\x89PNG\r\n\x1a\n"


def test_refuses_to_overwrite_without_force(photo, tmp_path):
    out = tmp_path / "x.nic"
    out.write_bytes(b"keep me")
    assert_clean_error(nic("encode", str(photo), "-o", str(out)), "exists")
    assert out.read_bytes() == b"keep me"
    assert nic("encode", str(photo), "-o", str(out), "--force").returncode == 0


@pytest.mark.parametrize("content,message", [
    (None, "no such file"),
    (b"this is not an image", "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "image"),
])
def test_bad_encode_inputs(tmp_path, content, message):
    src = tmp_path / "in.png"
    if content is not None:
        src.write_bytes(content)
    out = tmp_path / "out.nic"
    assert_clean_error(nic("encode", str(src), "-o", str(out)), message)
    assert not out.exists() and not list(tmp_path.glob("*.part"))


def test_bad_nic_files(photo, tmp_path):
    good = tmp_path / "g.nic"
    assert nic("encode", str(photo), "-o", str(good)).returncode == 0
    data = good.read_bytes()
    cases = {
        "trunc.nic": (data[: len(data) // 2], "truncated"),
        "flip.nic": (data[:-30] + bytes([data[-30] ^ 4]) + data[-29:], "CRC"),
        "png.nic": (photo.read_bytes(), "not a .nic file"),
        "empty.nic": (b"", "too short"),
        "future.nic": (data[:4] + b"\x07\x00" + data[6:], "version 7.0"),
    }
    for name, (blob, message) in cases.items():
        p = tmp_path / name
        p.write_bytes(blob)
        out = tmp_path / (name + ".png")
        assert_clean_error(nic("decode", str(p), "-o", str(out)), message)
        assert not out.exists()
    assert_clean_error(nic("info", str(tmp_path / "trunc.nic")), "truncated")


def test_usage_errors(photo):
    r = nic("encode", str(photo), "--quality", "50", "--bpp", "1")
    assert r.returncode == 2 and b"not allowed with" in r.stderr
    assert_clean_error(nic("encode", str(photo), "-o", "/nonexistent/dir/x.nic"), "no such directory")


def test_directory_mode_goes_past_bad_files_and_reports_them(photo, tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    (src / "deep").mkdir(parents=True)
    (src / "deep" / "good.png").write_bytes(photo.read_bytes())
    (src / "bad.png").write_bytes(b"not an image at all")
    (src / "notes.txt").write_text("ignored: not an image suffix")
    r = nic("encode", str(src), "-o", str(out), "--jobs", "2", "-q", "20")
    err = r.stderr.decode()
    assert r.returncode == 1 and "Traceback" not in err
    assert "1 done, 0 already done, 1 failed" in err and "failed: " + str(src / "bad.png") in err
    good = (out / "deep" / "good.nic").read_bytes()
    assert good[:4] == b"\x89NIC" and not (out / "bad.nic").exists()
    assert not list(out.rglob("*.part"))  # atomic writes leave no temporaries
    # a re-run resumes: the finished file counts as done and is not rewritten
    r = nic("encode", str(src), "-o", str(out), "-q", "20")
    assert "0 done, 1 already done, 1 failed" in r.stderr.decode()
    assert (out / "deep" / "good.nic").read_bytes() == good
    # other settings: the file is redone (and only once)
    r = nic("encode", str(src), "-o", str(out), "-q", "80")
    assert "1 done, 0 already done, 1 failed" in r.stderr.decode()
    assert hific_codec.info((out / "deep" / "good.nic").read_bytes()).quality == 80
    assert "0 done, 1 already done" in nic("encode", str(src), "-o", str(out), "-q", "80").stderr.decode()
    png = tmp_path / "png" / "deep" / "good.png"
    r = nic("decode", str(out), "-o", str(tmp_path / "png"))
    assert r.returncode == 0 and png.exists()
    assert "0 done, 1 already done" in nic("decode", str(out), "-o", str(tmp_path / "png")).stderr.decode()
    r = nic("decode", str(out), "-o", str(tmp_path / "png"), "--realism", "0.5")  # decoder options work here too
    assert "1 done, 0 already done" in r.stderr.decode(), r.stderr
    assert Image.open(png).text["nic-decode"] == "default realism=0.5"


def test_bpp_target_that_cannot_be_met_is_reported(photo, tmp_path):
    out = tmp_path / "tiny.nic"
    r = nic("encode", str(photo), "-o", str(out), "--bpp", "0.001")
    assert r.returncode == 0 and b"0.001 bpp cannot be met: the smallest file is" in r.stderr, r.stderr
    assert b"metadata: --strip drops it" in r.stderr  # the photo carries an ICC profile
    assert len(out.read_bytes()) * 8 / (256 * 192) > 0.001
    strict = tmp_path / "strict.nic"
    assert_clean_error(nic("encode", str(photo), "-o", str(strict), "--bpp", "0.001", "--strict"), "cannot be met")
    assert not strict.exists()


def test_psnr_target_is_reached_or_reported(photo, tmp_path):
    out = tmp_path / "t.nic"
    r = nic("encode", str(photo), "-o", str(out), "--psnr", "30")
    assert r.returncode == 0, r.stderr
    reached = float(r.stderr.decode().split("PSNR ")[1].split(" dB")[0])
    assert reached >= 30
    r = nic("encode", str(photo), "-o", str(tmp_path / "far.nic"), "--psnr", "90")
    assert r.returncode == 0 and b"90 dB cannot be met: quality 100 gives" in r.stderr, r.stderr
    strict = tmp_path / "strict.nic"
    assert_clean_error(nic("encode", str(photo), "-o", str(strict), "--psnr", "90", "--strict"), "cannot be met")
    assert not strict.exists()
    assert_clean_error(nic("encode", str(photo), "-o", str(strict), "--psnr", "30", "-q", "50"), "quality")


def test_outputs_get_the_usual_file_mode(photo, tmp_path):
    import os

    old = os.umask(0o027)  # inherited by the subprocess
    try:
        out = tmp_path / "mode.nic"
        assert nic("encode", str(photo), "-o", str(out), "-q", "10").returncode == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o640


def test_version_and_bench_options(tmp_path):
    from hific_codec import __version__

    assert nic("--version").stdout.decode().strip() == f"nic {__version__}"
    h = nic("bench", "--help")
    assert h.returncode == 0 and b"--dataset" in h.stdout and b"nic bench" in h.stdout
    assert_clean_error(nic("bench", "--codecs", "jpeg,foo"), "unknown codec 'foo'")


def test_bench_writes_beside_the_user_not_over_the_shipped_reports(tmp_path, crop):
    import json
    import os

    (tmp_path / "imgs").mkdir()
    Image.fromarray(crop).save(tmp_path / "imgs" / "a.png")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "hific_codec", "bench", "--root", "imgs", "--codecs", "jpeg",
                        "--no-fid", "--no-progress"], cwd=tmp_path, env=env, capture_output=True, check=False)
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "nic-bench" / "imgs" / "jpeg.json").read_text())["results"]
    # CompressAI's plotting tool reads MS-SSIM under this name
    assert res["ms-ssim-rgb"] == res["ms-ssim"] and len(res["bpp"]) >= 5


def test_decode_refuses_a_nic_output_and_names_the_output_size(photo, tmp_path):
    nicf = tmp_path / "p.nic"
    assert nic("encode", str(photo), "-o", str(nicf), "-q", "10").returncode == 0
    assert_clean_error(nic("decode", str(nicf), "-o", str(tmp_path / "again.nic")), "decode writes an image")
    assert not (tmp_path / "again.nic").exists()
    r = nic("decode", str(nicf), "-o", str(tmp_path / "big.png"), "--post", "sr2")
    assert r.returncode == 0 and b"512x384, fidelity decoder + sr2" in r.stderr, r.stderr


def test_decode_to_stdout_refuses_a_terminal(photo, tmp_path):
    import os
    import pty

    nicf = tmp_path / "t.nic"
    assert nic("encode", str(photo), "-o", str(nicf), "-q", "10").returncode == 0
    master, slave = pty.openpty()
    try:
        r = subprocess.run([sys.executable, "-m", "hific_codec", "decode", str(nicf), "-o", "-"], stdout=slave,
                           stderr=subprocess.PIPE, cwd=ROOT, check=False)
    finally:
        os.close(slave)
        os.close(master)
    assert r.returncode != 0 and b"refusing to write a binary image to the terminal" in r.stderr


def test_verbose_prints_the_psnr_of_the_file_written_and_threads_are_set(photo, tmp_path, crop):
    import re

    from .conftest import psnr

    out = tmp_path / "v.nic"
    r = nic("--threads", "1", "encode", str(photo), "-o", str(out), "-q", "40", "-v")
    assert r.returncode == 0, r.stderr
    shown = float(re.search(rb"PSNR ([0-9.]+) dB", r.stderr).group(1))
    assert abs(shown - psnr(crop, hific_codec.decode(out.read_bytes()))) < 0.01
    assert_clean_error(nic("--threads", "0", "info", str(out)), "at least 1")


def test_device_errors_are_one_line_and_write_nothing(photo, tmp_path):
    import torch

    out = tmp_path / "d.nic"
    if not torch.cuda.is_available():
        assert_clean_error(nic("encode", str(photo), "-o", str(out), "--effort", "3", "--device", "cuda"),
                           "no CUDA device")
    assert_clean_error(nic("encode", str(photo), "-o", str(out), "--device", "cuda"), "effort 3 and up")
    assert not out.exists()
