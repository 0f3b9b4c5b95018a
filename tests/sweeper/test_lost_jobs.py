"""A batch lost by its launcher is rebuilt from the job dirs (finished, raised, died); the shared budget keeps
exactly the first ``n_trials`` trials by number."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecopt_lightning.sweeper._budget import beyond
from ecopt_lightning.sweeper._launch import JOB_FILE, TrackedTask, job_result
from ecopt_lightning.sweeper._lost_jobs import JobDied, JobRaised, died, recover


def _started(job_dir: Path) -> str:
    job_dir.mkdir(parents=True)
    (job_dir / JOB_FILE).write_text("{}")
    return str(job_dir)


def test_each_job_of_a_lost_batch_gets_its_own_outcome(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    done, raised, killed = (_started(tmp_path / n) for n in ("done", "raised", "killed"))
    never = str(tmp_path / "never")  # cancelled before it started: no dir at all

    def in_job(job_dir: str, task) -> None:  # TrackedTask inside a Hydra job whose output dir is job_dir
        from hydra.core.hydra_config import HydraConfig

        monkeypatch.setattr(
            HydraConfig, "get", lambda: type("C", (), {"runtime": type("R", (), {"output_dir": job_dir})})
        )
        try:
            TrackedTask(task)(None)
        except ValueError:
            pass

    in_job(done, lambda cfg: {"val_acc": 0.5})
    in_job(raised, lambda cfg: (_ for _ in ()).throw(ValueError("bad width")))
    assert job_result(done) == ("returned", {"val_acc": 0.5})
    assert job_result(killed) is None

    rets = recover([done, raised, killed, never], [["a=1"], ["a=2"], ["a=3"], ["a=4"]], RuntimeError("lost\nstderr"))
    assert rets is not None and [r.working_dir for r in rets] == [done, raised, killed, never]
    assert rets[0].return_value == {"val_acc": 0.5} and not died(rets[0])
    with pytest.raises(JobRaised, match=r"^ValueError: bad width$"):
        rets[1].return_value  # noqa: B018
    assert not died(rets[1])
    for ret, when in ((rets[2], "after"), (rets[3], "before")):
        assert died(ret)
        with pytest.raises(JobDied, match=rf"job died {when} it started, .*the launcher said: RuntimeError: lost\)$"):
            ret.return_value  # noqa: B018


def test_a_launcher_that_failed_before_any_job_started_is_not_rebuilt(tmp_path: Path) -> None:
    assert recover([str(tmp_path / "0"), None], [["a=1"], ["a=2"]], RuntimeError("no such partition")) is None


def test_the_budget_keeps_the_first_n_trials_by_number() -> None:
    # 3 complete (0-2) + others' running 3, 4; this worker asked 5 and 6 with n_trials=5: both beyond
    assert beyond([5, 6], counted=[0, 1, 2, 3, 4, 5, 6], n_trials=5) == [5, 6]
    # trial 2 failed (not counted): 5 has four counted trials below it and runs; 6 has five and does not
    assert beyond([5, 6], counted=[0, 1, 3, 4, 5, 6], n_trials=5) == [6]
    # a retried trial enqueued early keeps its low number and runs
    assert beyond([2], counted=[0, 1, 2, 3, 4], n_trials=4) == []
