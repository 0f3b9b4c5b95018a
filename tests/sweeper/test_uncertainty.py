"""Noise as a first-class quantity in the sweeper: contended and imprecise trials are marked degraded, the
front carries intervals, the knee is robust, the payback says when there is no measurable saving."""

from __future__ import annotations

import json

from ecopt_lightning.sweeper._jobinfo import read_job


def test_a_contended_or_imprecise_benchmark_marks_the_trial_degraded(tmp_path):
    inference = {
        "contended": True,
        "contention": {"foreign_cores": 1.6, "cores": 2, "compute_threads": 2, "free_cores": 0.4},
        "rel_precision": 0.05,
        "converged": False,
        "rel_halfwidth": 0.31,
        "repeats": 50,
        "stop_reason": "max_repeats",
    }
    summary = {"total_J": 3.0, "sources": {"gpu:0": "nvml_counter"}, "inference": inference}
    (tmp_path / "energy_summary.json").write_text(json.dumps(summary))
    reasons = read_job(str(tmp_path)).degraded
    assert reasons == [
        "contended: other processes kept 1.60 of 2 cores busy during the inference benchmark "
        "(2 compute threads on 0.40 free cores)",
        "imprecise: inference energy per sample known to +-31% after 50 repeats (target +-5%, stopped at max_repeats)",
    ]
    inference.update(contended=False, converged=True)
    (tmp_path / "energy_summary.json").write_text(json.dumps(summary))
    assert read_job(str(tmp_path)).degraded == []
