"""The visual comparison page (benchmarks.compare): the rate search, a small page built from real
encodes, its links, and the page's own checks run in headless Chromium."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks import compare

from .conftest import ROOT


@pytest.mark.parametrize("rising", [True, False])
def test_closest_setting_brackets_then_bisects(rising):
    """Whichever way the rate moves with the setting, the search lands on the setting nearest the
    target, not just the nearest of the sweep."""
    calls = []

    def enc(q):
        calls.append(q)
        r = 0.01 * q if rising else 0.01 * (100 - q)
        return b"x" * q, r

    q, data = compare.closest(enc, (0, 50, 100), 0.37 if rising else 0.63, integer=True)
    assert q == 37 and data == b"x" * 37
    assert len(set(calls)) == len(calls) <= 3 + compare.SEARCH_STEPS


def test_target_outside_the_sweep_takes_the_nearest_end():
    q, _ = compare.closest(lambda q: (b"", 0.1 + q), (1, 2, 3), 50.0, integer=True)
    assert q == 3


@pytest.fixture(scope="module")
def small_page(tmp_path_factory, crop):
    out = tmp_path_factory.mktemp("page")
    src = out / "photo.png"
    Image.fromarray(crop).save(src)
    points = compare.measure([src], ["jpeg", "webp"], [0.5, 1.5], out, 96, None, log=lambda s: None)
    return compare.page(points, out, [0.5, 1.5], "test page"), points


def test_page_shows_every_point_with_its_real_figures(small_page, crop):
    index, points = small_page
    assert len(points) == 4
    for p in points:
        assert p["bytes"] > 0 and abs(np.log(p["bpp"] / p["rate"])) < np.log(2)  # near its target
        assert p["bpp"] == pytest.approx(8 * p["bytes"] / (crop.shape[0] * crop.shape[1]))
        with Image.open(index.parent / p["crop"]) as im:
            assert im.size == (96, 96)
    text = index.read_text()
    for p in points:
        assert p["crop"] in text and f'{p["bpp"]:.3f} bpp' in text
    # cached: a second run encodes nothing and gives the same points
    again = compare.measure([index.parent / "photo.png"], ["jpeg", "webp"], [0.5, 1.5], index.parent, 96, None,
                            log=lambda s: pytest.fail(f"re-encoded: {s}"))
    assert again == points


def _links(index: Path) -> list[str]:
    import re

    return re.findall(r'(?:src|href|value)="([^"#:]+\.(?:webp|png|js|css))"', index.read_text())


def test_page_links_resolve_inside_its_folder(small_page):
    index, _ = small_page
    links = _links(index)
    assert "compare.js" in links and "compare.css" in links
    assert all((index.parent / link).is_file() for link in links)


def test_committed_kodak_page_is_whole_and_small():
    index = ROOT / "benchmarks" / "results" / "compare" / "index.html"
    links = _links(index)
    assert len([x for x in links if x.startswith("img/")]) >= 20
    missing = [x for x in links if not (index.parent / x).is_file()]
    assert not missing
    size = sum(f.stat().st_size for f in index.parent.rglob("*") if f.is_file() and f.name != "screenshot.png")
    assert size < 5e6


def test_page_works_in_a_real_browser(small_page, tmp_path):
    if compare.chromium() is None:
        pytest.skip("headless Chromium is not installed (make test installs Debian's chromium where it can)")
    index, _ = small_page
    shot = tmp_path / "page.png"
    assert compare.selftest(index, shot).startswith("ok ")
    with Image.open(shot) as im:
        assert im.size == (1280, 1600)


def test_the_page_reports_a_broken_image(small_page, tmp_path):
    """The browser check can fail: a page with a missing crop is reported."""
    if compare.chromium() is None:
        pytest.skip("headless Chromium is not installed (make test installs Debian's chromium where it can)")
    import shutil

    index, points = small_page
    broken = tmp_path / "broken"
    shutil.copytree(index.parent, broken)
    (broken / points[0]["crop"]).unlink()
    assert compare.selftest(broken / "index.html").startswith("FAIL broken images")


def test_the_committed_page_carries_the_current_script_and_style():
    """The committed page holds copies of compare_page/ (it must open alone from file://): they
    may not drift from the source."""
    page = ROOT / "benchmarks" / "results" / "compare"
    for f in sorted(compare.STATIC.iterdir()):
        assert (page / f.name).read_bytes() == f.read_bytes(), f"{f.name}: rerun python -m benchmarks.compare"
