"""The kill -9 harness: one sweep killed 10 times at seeded random points, each chosen by event (the Nth time
the sweeper reaches a point, or a job), then the same command once more. Nothing completed is lost, no
config runs twice, the baseline is complete, and the final run does not wait for dead workers' trials."""

from __future__ import annotations

import random
import signal
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from ecopt_lightning.sweeper._storage import open_storage

from .conftest import check_artifacts, ok, run

pytestmark = pytest.mark.slow
N_TRIALS, KILLS = 12, 10
#: sweeper points (ecopt_lightning.sweeper._crashpoints) and how many times each may be reached before the kill;
#: "job" is the first job of the run (the task SIGKILLs the sweep from inside, under the basic launcher)
POINTS = {"before_claim": 3, "after_ask": 3, "after_tell": 3, "in_tell": 3, "artifact_write": 14, "job": 1}


def kill_plan(seed: int) -> list[tuple[str, int]]:
    """``KILLS`` (point, nth) pairs: two kills during the baseline's job (it and its retry), then points drawn
    with ``seed``. The same plan on every machine, whatever its speed."""
    rng = random.Random(seed)
    drawn = (rng.choice(sorted(POINTS)) for _ in range(KILLS - 2))
    return [("job", 1), ("job", 1), *((point, rng.randint(1, POINTS[point])) for point in drawn)]


@pytest.mark.timeout(900)  # eleven sweeps in subprocesses, about 1 min in all on an idle 2-core machine
@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_ten_kills_then_the_same_command_lose_nothing_and_repeat_nothing(tmp_path: Path, kind: str) -> None:
    sweep = tmp_path / "sweep"
    url = f"sqlite:///{sweep / 'ecopt.db'}" if kind == "sqlite" else f"journal:///{tmp_path / 'study.log'}"
    command = ["width=choice(8,16,32,64)", "lr=interval(0.001, 0.1)", "hydra.sweeper.sampler=random"]
    command += [f"hydra.sweeper.n_trials={N_TRIALS}", "hydra.sweeper.seed=0", "hydra.sweeper.baseline=true"]
    if kind == "journal":
        command.append(f"hydra.sweeper.storage={url}")

    def complete() -> dict[int, dict]:
        try:
            study = optuna.load_study(study_name="toy", storage=open_storage(url, heartbeat_interval_s=0))
        except KeyError:  # killed before the study was created
            return {}
        return {t.number: t.params for t in study.get_trials(states=(TrialState.COMPLETE,))}

    seen: dict[int, dict] = {}
    plan = kill_plan(6)  # seed 6 draws every kind of point
    for i, (point, nth) in enumerate(plan):
        if point == "job":
            proc = run(sweep, *command, f"die_marker={tmp_path / f'died{i}.txt'}")
        else:
            proc = run(sweep, *command, env={"ECOPT_CRASH_AT": f"{point}:{nth}"})
        # a point the run never reached that often lets it finish: the plan goes on
        assert proc.returncode in (-signal.SIGKILL, 0), (i, point, nth, proc.stderr[-3000:])
        now = complete()
        assert seen.items() <= now.items(), (i, point, nth)  # nothing completed was lost or changed
        seen = now
    check_artifacts(sweep)

    final = ok(run(sweep, *command))
    trials = optuna.load_study(study_name="toy", storage=open_storage(url, heartbeat_interval_s=0)).trials
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(done) == N_TRIALS, (plan, [(t.number, t.state.name, t.user_attrs.get("ecopt.error")) for t in trials])
    assert seen.items() <= {t.number: t.params for t in done}.items()
    configs = [tuple(sorted(t.params.items())) for t in done]
    assert len(set(configs)) == len(configs), plan  # no config ran twice
    assert [t.user_attrs.get("ecopt.baseline") for t in done].count(True) == 1, plan
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert "waiting" not in final.stdout + final.stderr  # no dead worker's trial is waited for
    assert check_artifacts(sweep)["states"].get("COMPLETE") == N_TRIALS
