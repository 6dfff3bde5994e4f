"""Scale-out: the Ray engine gives the local engine's bytes; two-process DDP training stays in sync."""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from hific_codec import batch

from .conftest import ROOT


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory, kodim23):
    d = tmp_path_factory.mktemp("photos")
    (d / "nested").mkdir()
    Image.fromarray(kodim23[:96, :128]).save(d / "a.png")
    Image.fromarray(kodim23[200:264, 300:380]).save(d / "nested" / "b.png")
    Image.fromarray(kodim23[300:340, 500:560, 0]).save(d / "c.png")
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return d


def run_job(src, dst, engine):
    tasks = batch.plan(src, dst, "encode", quality=40.0, psnr=True)
    records, _ = batch.run(tasks, engine, jobs=2, quiet=True)
    batch.write_manifest(records, dst / "manifest.csv")
    return {os.path.relpath(r.dst, dst): r for r in records}


def test_ray_local_mode_matches_local_engine(photo_dir, tmp_path):
    pytest.importorskip("ray")
    local = run_job(photo_dir, tmp_path / "local", "local")
    ray = run_job(photo_dir, tmp_path / "ray", "ray")
    assert local.keys() == ray.keys() and len(local) == 4
    for k, r in local.items():
        assert r.status == ray[k].status
        if r.status == "ok":
            assert (tmp_path / "local" / k).read_bytes() == (tmp_path / "ray" / k).read_bytes()
            assert r.bytes == ray[k].bytes and r.psnr == ray[k].psnr > 20
    assert local["broken.nic"].status == "failed" and not (tmp_path / "local" / "broken.nic").exists()
    rows = (tmp_path / "ray" / "manifest.csv").read_text().splitlines()
    assert rows[0].startswith("src,dst,status,bytes,bpp,psnr") and len(rows) == 5


def test_rerun_resumes_and_never_overwrites(photo_dir, tmp_path):
    first = run_job(photo_dir, tmp_path, "local")
    (tmp_path / "c.nic").write_bytes(b"damaged")  # an output that is not a valid file
    again = run_job(photo_dir, tmp_path, "local")
    assert again["a.nic"].status == again["nested/b.nic"].status == "done-before"
    assert again["c.nic"].status == "failed" and "--force" in again["c.nic"].error
    assert (tmp_path / "c.nic").read_bytes() == b"damaged"
    assert first["a.nic"].bytes == again["a.nic"].bytes


def test_two_process_ddp_training_stays_in_sync_and_resumes_on_one(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for k in range(4):  # smooth synthetic images: the test checks mechanics, not quality
        img = rng.integers(0, 256, size=(20, 24, 3), dtype=np.uint8)
        Image.fromarray(img).resize((192, 160), Image.BICUBIC).save(data / f"{k}.png")
    run = tmp_path / "run"
    common = ["-m", "hific_codec.train.fidelity", "--run-dir", str(run), "--data", str(data), "--batch", "2",
              "--N", "16", "--M", "24", "--threads", "1", "--check-sync"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    with socket.socket() as s:  # a free port: a fixed one can still be held from an earlier run
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port)]
    r = subprocess.run([*torchrun, *common, "--steps", "3"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                       check=False)
    assert r.returncode == 0, r.stderr[-3000:]  # the ranks' tracebacks, should this ever fail again
    sync = json.loads((run / "sync_check.json").read_text())
    assert sync["world"] == 2 and sync["step"] == 3
    assert len(set(sync["digests"])) == 1  # both ranks hold identical weights after 3 steps
    # resume the same run on one process: it continues from step 3
    subprocess.run([sys.executable, *common, "--steps", "5"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    sync1 = json.loads((run / "sync_check.json").read_text())
    assert sync1["world"] == 1 and sync1["step"] == 5 and sync1["digests"][0] != sync["digests"][0]
