"""Metrics and BD-rate on inputs with known answers; the full benchmark is not part of CI."""
import math

import numpy as np
import pytest

from benchmarks import bdrate, metrics, report
from benchmarks.codecs import get


def test_psnr_known_values():
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 255  # MSE = 255^2 / 48
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(48))
    assert metrics.psnr(a, a) == math.inf


def test_ms_ssim_identity_and_ordering():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, size=(192, 192, 3), dtype=np.uint8)
    assert metrics.ms_ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    mild = np.clip(a.astype(int) + rng.integers(-8, 9, a.shape), 0, 255).astype(np.uint8)
    strong = np.clip(a.astype(int) + rng.integers(-60, 61, a.shape), 0, 255).astype(np.uint8)
    assert 1 > metrics.ms_ssim(a, mild) > metrics.ms_ssim(a, strong) > 0
    assert math.isnan(metrics.ms_ssim(a[:100], a[:100]))  # too small for 5 scales
    assert metrics.ms_ssim_db(0.99) == pytest.approx(20.0)


def test_bd_rate_of_a_scaled_curve_is_the_scale():
    rate = [0.1, 0.25, 0.5, 0.8, 1.2]
    q = [27.0, 29.5, 32.0, 34.0, 36.0]
    assert bdrate.bd_rate(rate, q, [r * 0.9 for r in rate], q) == pytest.approx(-10.0, abs=1e-9)
    assert bdrate.bd_rate(rate, q, [r * 1.25 for r in rate], q) == pytest.approx(25.0, abs=1e-9)


def test_bd_rate_on_published_style_curves():
    # Anchor: PSNR = 10 log10(rate) + 38; test curve is 1 dB better everywhere.
    # Equal quality needs rate x 10^(-0.1): BD-rate = -20.57%.
    rate = np.array([0.1, 0.2, 0.4, 0.8, 1.6])
    q = 10 * np.log10(rate) + 38
    assert bdrate.bd_rate(rate, q, rate, q + 1) == pytest.approx((10 ** -0.1 - 1) * 100, abs=1e-6)


def test_bd_rate_without_overlap_is_nan():
    assert math.isnan(bdrate.bd_rate([0.1, 0.2], [20, 21], [0.1, 0.2], [30, 31]))
    assert math.isnan(bdrate.bd_rate([0.1], [20], [0.1, 0.2], [20, 21]))


def test_baseline_codec_round_trip():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, size=(32, 48, 3), dtype=np.uint8)
    c = get("jpeg")
    c.check()
    out = c.decode(c.encode(img, 90))
    assert out.shape == img.shape and metrics.psnr(img, out) > 15


def test_report_aggregates_and_writes_compressai_json(tmp_path):
    c = get("jpeg")
    c.qualities = (10, 50)
    rows = [{"codec": "jpeg", "image": f"i{i}", "quality": q, "bytes": 100, "bpp": 0.2 * q / 10 + i,
             "psnr-rgb": 25 + q / 10, "ms-ssim": 0.9, "ms-ssim-db": 10.0, "encoding_time": 0.01,
             "decoding_time": 0.01, "peak_rss_mb": 100} for i in range(2) for q in (10, 50)]
    path = report.write(rows, {"jpeg": c}, "toy", 2, tmp_path, anchor="jpeg")
    import json

    j = json.loads((tmp_path / "jpeg.json").read_text())
    assert j["name"] == "jpeg" and j["results"]["bpp"] == pytest.approx([0.7, 1.5])
    assert j["results"]["psnr-rgb"] == pytest.approx([26.0, 30.0])
    assert "BD-rate" in path.read_text() and (tmp_path / "rd_psnr.png").exists()


def test_report_update_reruns_some_codecs_and_keeps_the_others(tmp_path):
    import csv
    import json

    def rows_for(name, psnr0):
        return [{"codec": name, "image": f"i{i}", "quality": q, "bytes": 100, "bpp": 0.2 * q / 10 + i,
                 "psnr-rgb": psnr0 + q / 10, "ms-ssim": 0.9, "ms-ssim-db": 10.0 + q / 10, "encoding_time": 0.01,
                 "decoding_time": 0.01, "peak_rss_mb": 100} for i in range(2) for q in (10, 50)]

    jpeg, webp = get("jpeg"), get("webp")
    jpeg.qualities = webp.qualities = (10, 50)
    report.write(rows_for("webp", 24) + rows_for("jpeg", 25), {"webp": webp, "jpeg": jpeg}, "toy", 2, tmp_path,
                 anchor="jpeg", command="python -m benchmarks --dataset toy --codecs webp,jpeg")
    before = json.loads((tmp_path / "webp.json").read_text())
    path = report.write(rows_for("jpeg", 27), {"jpeg": jpeg}, "toy", 2, tmp_path, anchor="jpeg",
                        command="python -m benchmarks --codecs jpeg --update", update=True)
    text = path.read_text()
    assert json.loads((tmp_path / "webp.json").read_text()) == before  # kept as measured
    assert json.loads((tmp_path / "jpeg.json").read_text())["results"]["psnr-rgb"] == pytest.approx([28.0, 32.0])
    assert "--codecs webp,jpeg`" in text and "`--codecs jpeg --update` reran" in text
    assert text.index("| webp | 10 |") < text.index("| jpeg | 10 |")  # the earlier report's order
    with open(tmp_path / "per_image.csv", newline="") as f:
        got = sorted((r["codec"], float(r["psnr-rgb"])) for r in csv.DictReader(f))
    assert got == sorted([("webp", 25.0), ("webp", 29.0)] * 2 + [("jpeg", 28.0), ("jpeg", 32.0)] * 2)


def test_fid_patch_protocol_and_distances():
    from benchmarks import fid

    img = np.zeros((512, 768, 3), np.uint8)
    assert fid.patches(img).shape == (6 + 2, 256, 256, 3)  # 3x2 grid + 2x1 grid shifted by 128
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 16))
    b = rng.normal(size=(400, 16))
    shifted = b + 1.0
    assert abs(fid.fid(a, a)) < 1e-6
    assert fid.fid(a, b) < 1.0 < fid.fid(a, shifted)
    assert fid.fid(a, shifted) == pytest.approx(16.0, rel=0.15)  # |mean difference|^2 = 16
    assert abs(fid.kid(a, b)) < 0.05 < fid.kid(a, shifted)


def test_small_sample_fid_and_bootstrap_intervals():
    """fid_small (an n x m SVD) equals the d x d matrix-square-root FID; paired bootstrap
    intervals of a difference contain 0 where there is none and exclude it for a real shift."""
    from benchmarks import fid

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(300, 24)), rng.normal(size=(250, 24)) * 1.2 + 0.2
    assert fid.fid_small(a, b) == pytest.approx(fid.fid(a, b), rel=1e-9)
    wide_a, wide_b = rng.normal(size=(40, 200)), rng.normal(size=(30, 200)) + 0.5  # fewer samples than dims
    assert fid.fid_small(wide_a, wide_b) == pytest.approx(fid.fid(wide_a, wide_b), rel=1e-5)
    groups = [[rng.normal(size=(8, 24)) for _ in range(24)] for _ in range(4)]
    groups[3] = [g + 0.8 for g in groups[3]]
    change = lambda r, x, y: fid.fid_small(r, y) - fid.fid_small(r, x)
    none = fid.bootstrap(change, groups[:3], rounds=100)
    real = fid.bootstrap(change, [groups[0], groups[1], groups[3]], rounds=100)
    assert none[0] < 0 < none[1] and real[0] > 0


def test_efficientnet_features_are_labelled_and_sane():
    from benchmarks import fid

    net = fid.feature_net()
    assert "EfficientNet-Lite0" in net.label and "not Inception" in net.label
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(2, 256, 256, 3), dtype=np.uint8)
    f = net(x)
    assert f.shape == (2, 1280) and np.isfinite(f).all() and not np.allclose(f[0], f[1])
    lite1 = fid.EfficientNetLite1()  # the evaluation network: another network, labelled as such
    assert "EfficientNet-Lite1" in lite1.label and "no model's loss" in lite1.label
    g = lite1(x)
    assert g.shape == (2, 1280) and np.isfinite(g).all() and not np.allclose(f, g)


def test_sr_protocol_metrics():
    from benchmarks import sr

    white, black = np.full((4, 4, 3), 255, np.uint8), np.zeros((4, 4, 3), np.uint8)
    assert np.allclose(sr.luma(white), 235.0) and np.allclose(sr.luma(black), 16.0)  # BT.601 studio range
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 255, (40, 40))
    assert sr.ssim_y(a, a) == pytest.approx(1.0)
    assert sr.ssim_y(a, a + rng.normal(0, 20, a.shape)) < sr.ssim_y(a, a + rng.normal(0, 5, a.shape)) < 1
    assert sr.psnr_y(a, a + 1.0) == pytest.approx(20 * np.log10(255.0))


def test_timing_provenance_says_when_rows_were_timed_together():
    def rows(w, t, tuned, *utcs, run=None):
        extra = {} if run is None else {"run": run}
        return [{"timed": {"workers": w, "threads": t, "malloc_tuned": tuned, "utc": u, **extra}} for u in utcs]

    # rows from before invocation ids: the same settings in overlapping windows count as together
    nic = report.timing_provenance(rows(1, 2, True, "2026-11-26 13:00", "2026-11-26 13:09"))
    bpg = report.timing_provenance(rows(1, 2, True, "2026-11-26 13:05", "2026-11-26 13:12"))
    assert nic == {"how": "1 worker(s) x 2 thread(s), malloc tuned", "from": "2026-11-26 13:00",
                   "to": "2026-11-26 13:09", "runs": [""]}
    assert report.timed_together(nic, bpg)
    later = report.timing_provenance(rows(1, 2, True, "2026-11-26 14:00"))
    other = report.timing_provenance(rows(2, 1, False, "2026-11-26 13:05"))
    assert not report.timed_together(nic, later) and not report.timed_together(nic, other)
    assert report.timing_provenance(rows(1, 2, True, "x") + [{}]) is None  # a row cached before provenance
    assert not report.timed_together(None, bpg)
    # with invocation ids, "together" means one invocation, whatever the clock says
    a = report.timing_provenance(rows(1, 2, True, "2026-11-26 13:00", run="r1"))
    b = report.timing_provenance(rows(1, 2, True, "2026-11-26 13:05", run="r1"))
    c = report.timing_provenance(rows(1, 2, True, "2026-11-26 13:05", run="r2"))
    assert report.timed_together(a, b) and not report.timed_together(a, c)
    mixed = report.timing_provenance(rows(1, 2, True, "2026-11-26 13:00", run="r1")
                                     + rows(1, 2, True, "2026-11-26 13:01", run="r2"))
    assert not report.timed_together(mixed, b)  # part of it came from another invocation


def test_effort_benchmark_crops_the_centre():
    from benchmarks.effort import centre_crop

    img = np.arange(512 * 768 * 3, dtype=np.int64).reshape(512, 768, 3)
    c = centre_crop(img)
    assert c.shape == (256, 256, 3) and c.flags.c_contiguous
    assert np.array_equal(c[0, 0], img[128, 256]) and np.array_equal(c[-1, -1], img[383, 511])
