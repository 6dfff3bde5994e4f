"""hific_codec.allocator: glibc's thresholds are set where the platform allows, and can be refused."""
import os
import subprocess
import sys

import pytest

CODE = "from hific_codec import allocator; print(allocator.tune(), allocator.tune())"


def _run(env_extra: dict[str, str]) -> str:
    env = {**os.environ, **env_extra}
    return subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_tune_applies_once_on_glibc():
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert _run({"NIC_MALLOC_TUNE": "1"}) == "True True"


def test_tune_can_be_turned_off():
    assert _run({"NIC_MALLOC_TUNE": "0"}) == "False False"


def test_benchmark_workers_are_tuned():
    """engines.set_threads (every batch and benchmark worker runs it) tunes the allocator."""
    code = ("from hific_codec import allocator, engines; before = allocator.applied(); engines.set_threads(1); "
            "print(before, allocator.applied())")
    env = {**os.environ, "NIC_MALLOC_TUNE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip()
    import platform

    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    expected = "False True" if glibc else "False False"
    assert out == expected
