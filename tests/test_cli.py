"""The `nic` command: happy paths, stdin/stdout, and one-line errors with no partial outputs."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from .conftest import ROOT


def nic(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hific_codec", *args], input=stdin, capture_output=True, cwd=ROOT)


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
    r = nic("encode", str(src), "-o", str(out), "-q", "80")
    assert "0 done, 1 already done, 1 failed" in r.stderr.decode()
    assert (out / "deep" / "good.nic").read_bytes() == good
    r = nic("decode", str(out), "-o", str(tmp_path / "png"))
    assert r.returncode == 0 and (tmp_path / "png" / "deep" / "good.png").exists()
