"""The training loop the plugin trainers share (train/run.py): resume, logging, saving, schedule."""
from __future__ import annotations

import itertools
import json

from hific_codec.train.run import Run, tail_cosine


def test_a_run_resumes_where_it_stopped_and_logs_every_n_steps(tmp_path):
    seen, saved = [], []
    run = Run(tmp_path, save_minutes=0.0)  # save at every tick too
    meta = {"step": 0, "seconds": 0.0}
    reached = run.train(meta, steps=7, minutes=1.0, step=lambda k: seen.append(k) or {"k": k},
                        save=lambda m: saved.append(dict(m)), every=3, report=lambda: {"val": 1.5})
    assert reached == 7 and seen == list(range(7)) and saved[-1]["step"] == 7
    assert all(a["step"] <= b["step"] for a, b in itertools.pairwise(saved))
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [3, 6, 7] and log[-1]["k"] == 6 and log[-1]["val"] == 1.5
    seen.clear()
    first = saved[-1]
    more = run.train(dict(first), steps=10, minutes=1.0, step=lambda k: seen.append(k) or {},
                     save=lambda m: saved.append(dict(m)), every=5)
    assert more == 10 and seen == [7, 8, 9] and saved[-1]["step"] == 10 and saved[-1]["seconds"] >= first["seconds"]


def test_a_time_limit_stops_the_run_and_still_saves(tmp_path):
    import time

    saved = []
    reached = Run(tmp_path).train({"step": 0, "seconds": 0.0}, steps=10**9, minutes=0.002,
                                  step=lambda k: time.sleep(0.01) or {}, save=saved.append, every=1000)
    assert 0 < reached < 10**9 and saved[-1]["step"] == reached


def test_the_tail_cosine_schedule():
    assert tail_cosine(0, 100, 1e-3) == tail_cosine(69, 100, 1e-3) == 1e-3  # constant, then the tail
    assert abs(tail_cosine(85, 100, 1e-3) - 1e-3 * (0.05 + 0.95 * 0.5)) < 1e-12  # half way down
    assert abs(tail_cosine(100, 100, 1e-3) - 5e-5) < 1e-12 and tail_cosine(10**6, 100, 1e-3) == tail_cosine(100, 100, 1e-3)
