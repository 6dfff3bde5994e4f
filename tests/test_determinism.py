"""Decoding gives identical pixels whatever the thread count (1, 2, 4), alone or in a batch, and
across processes."""
import hashlib
import os
import subprocess
import sys

import numpy as np

import hific_codec

from .conftest import ASSET, ROOT

SCRIPT = r"""
import sys, hashlib, numpy as np, torch
from PIL import Image
torch.set_num_threads(int(sys.argv[2]))
import hific_codec
if sys.argv[1] == "encode":
    rgb = np.asarray(Image.open(sys.argv[3]).convert("RGB"))[:256, :384]
    sys.stdout.buffer.write(hific_codec.encode(rgb, 45))
else:
    out = hific_codec.decode(open(sys.argv[3], "rb").read())
    print(hashlib.md5(out.tobytes()).hexdigest())
"""


def run(*args: str) -> bytes:
    # the thread count of torch (encoder, realism) and of numpy's BLAS (the fidelity decoder)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": args[1], "OMP_NUM_THREADS": args[1]}
    return subprocess.run([sys.executable, "-c", SCRIPT, *args], check=True, capture_output=True, cwd=ROOT,
                          env=env).stdout


def test_encode_and_decode_with_different_thread_counts(tmp_path):
    files = {}
    for threads in ("1", "2"):
        files[threads] = tmp_path / f"enc{threads}.nic"
        files[threads].write_bytes(run("encode", threads, str(ASSET)))
    digests = {(e, d): run("decode", d, str(files[e])).strip() for e in ("1", "2") for d in ("1", "2", "4")}
    assert len(set(digests.values())) == 1, digests
    # and in this process, with the default thread count
    here = hashlib.md5(hific_codec.decode(files["2"].read_bytes()).tobytes()).hexdigest().encode()
    assert here == digests[("2", "1")]


def test_batched_decode_equals_decoding_alone(crop, kodim23):
    """Same-size files share one synthesis call (a batch of 3, two qualities); a different size
    goes alone.  Every image must equal its own single decode, bit for bit."""
    files = [hific_codec.encode(crop, 20), hific_codec.encode(crop[:, ::-1].copy(), 70),
             hific_codec.encode(kodim23[:100, :130], 50), hific_codec.encode(crop, 20)]
    batch = hific_codec.decode_batch(files)
    for data, got in zip(files, batch):
        assert np.array_equal(got, hific_codec.decode(data))
    assert np.array_equal(batch[0], batch[3]) and not np.array_equal(batch[0], batch[1])


def test_repeated_decodes_are_identical(crop):
    data = hific_codec.encode(crop, 30)
    a, b = hific_codec.decode(data), hific_codec.decode(data)
    assert np.array_equal(a, b)


MKL_SCRIPT = r"""
import os, sys, warnings
import numpy as np
if sys.argv[1] == "gemm-first":  # another library runs MKL before the codec is imported
    import torch
    (torch.randn(64, 64) @ torch.randn(64, 64)).sum()
import hific_codec
from hific_codec import codec, numerics
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    # the realism decoder runs its synthesis in torch (the fidelity decoder's is numpy)
    hific_codec.decode(hific_codec.encode(np.full((16, 16, 3), 99, np.uint8), 50), realism=0.5)
print(numerics.strict(), sum(issubclass(x.category, RuntimeWarning) and "MKL" in str(x.message) for x in w))
"""


def test_mkl_runs_strict_and_says_so_when_it_cannot():
    """The torch synthesis' GEMMs run in MKL's strict (thread-count independent) mode; where MKL already
    ran in another mode before the import, decoding warns once instead of silently differing."""
    env = {k: v for k, v in __import__("os").environ.items() if k != "MKL_CBWR"}

    def go(mode):
        return subprocess.run([sys.executable, "-c", MKL_SCRIPT, mode], check=True, capture_output=True,
                              cwd=ROOT, env=env, text=True).stdout.split()

    assert go("plain") == ["True", "0"]
    strict, warned = go("gemm-first")
    from hific_codec import numerics

    if numerics.mkl_mode() is not None:  # an MKL build: the early GEMM fixed a loose mode
        assert (strict, warned) == ("False", "1")
