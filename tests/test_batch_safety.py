"""Batch mode does not lose files silently and does not leave workers behind."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hific_codec import batch

from .conftest import ROOT


def test_two_sources_with_one_output_are_refused_up_front(tmp_path, crop):
    src = tmp_path / "src" / "sub"
    src.mkdir(parents=True)
    Image.fromarray(crop).save(src / "a.png")
    Image.fromarray(crop).save(src / "a.jpg")
    Image.fromarray(crop).save(src / "b.png")
    with pytest.raises(ValueError, match=r"a\.(png|jpg) and .*a\.(png|jpg) -> .*a\.nic"):
        batch.plan(tmp_path / "src", tmp_path / "out", "encode")
    r = subprocess.run([sys.executable, "-m", "hific_codec", "encode", str(tmp_path / "src"), "-o", str(tmp_path / "out")],
                       capture_output=True, cwd=ROOT, check=False)
    assert r.returncode == 1 and b"same output" in r.stderr and b"Traceback" not in r.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.nic"))


def test_fifos_and_dangling_links_are_listed_as_failures(tmp_path, crop):
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(crop[:64, :64]).save(src / "good.png")
    os.mkfifo(src / "pipe.png")
    (src / "gone.png").symlink_to(tmp_path / "missing.png")
    tasks = batch.plan(src, tmp_path / "out", "encode", quality=10)
    assert sorted(Path(t.src).name for t in tasks) == ["gone.png", "good.png", "pipe.png"]
    recs = {Path(r.src).name: r for r in map(batch.run_task, tasks)}  # a FIFO read would hang here
    assert recs["good.png"].status == "ok"
    assert recs["pipe.png"].status == "failed" and "FIFO" in recs["pipe.png"].error
    assert recs["gone.png"].status == "failed" and "dangling" in recs["gone.png"].error


def _children(pid: int) -> set[int]:
    out = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.add(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_die_with_a_killed_parent(tmp_path, crop, sig):
    src = tmp_path / "src"
    src.mkdir()
    for k in range(12):
        Image.fromarray(np.ascontiguousarray(np.roll(crop, 9 * k, axis=1))).save(src / f"{k}.png")
    p = subprocess.Popen([sys.executable, "-m", "hific_codec", "encode", str(src), "-o", str(tmp_path / "out"),
                          "--jobs", "2"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    deadline = time.time() + 60
    while time.time() < deadline and len(workers) < 2:  # the pool's workers (and its resource tracker)
        workers = {c for c in _children(p.pid) if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()}
        time.sleep(0.2)
    assert len(workers) >= 2, "workers never started"
    p.send_signal(sig)
    p.wait(timeout=30)
    deadline = time.time() + 15
    while time.time() < deadline and any(map(_alive, workers)):
        time.sleep(0.2)
    left = [w for w in workers if _alive(w)]
    for w in left:
        os.kill(w, signal.SIGKILL)
    assert not left, f"workers {left} outlived their parent"
