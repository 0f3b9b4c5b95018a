"""What a sweep writes besides the trials (issue 14): one copy of each artifact on the study however often it is
rerun, an HTML without plotly.js inside, the official sweeper's optimization_results.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf
from optuna.artifacts import get_all_artifact_meta

from ecopt_lightning.sweeper._plots import PLOTLY_JS

from .conftest import load_study

pytestmark = pytest.mark.slow
SPACE = ("width=choice(8,16)", "lr=tag(log, interval(1e-3, 1e-1))")


def test_rerun_replaces_the_studys_artifacts_and_html_loads_plotly_from_beside_it(multirun, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    multirun(*SPACE, "hydra.sweeper.sampler=random", "hydra.sweeper.n_trials=2")
    first = sorted((m.filename, m.artifact_id) for m in get_all_artifact_meta(load_study(sweep)))
    multirun(*SPACE, "hydra.sweeper.sampler=random", "hydra.sweeper.n_trials=2")  # nothing to run: attaches again
    second = sorted((m.filename, m.artifact_id) for m in get_all_artifact_meta(load_study(sweep)))
    assert second == first  # replaced in place: one copy of each file
    names = [name for name, _ in second]
    assert len(names) == len(set(names)) and "pareto_front.png" in names and "pareto_front.html" not in names
    assert len(list((sweep / "optuna_artifacts").iterdir())) == len(names)

    html = (sweep / "pareto_front.html").read_text()
    assert f'src="{PLOTLY_JS}"' in html and len(html) < 200_000  # plotly.js (4.6 MB) is not inside
    assert (sweep / PLOTLY_JS).exists()  # beside it, so the page opens offline


def test_optimization_results_yaml_as_the_official_sweeper_writes_it(multirun, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    multirun(*SPACE, "hydra.sweeper.sampler=random", "hydra.sweeper.n_trials=3")
    results = OmegaConf.load(sweep / "optimization_results.yaml")
    study = load_study(sweep)
    assert results.name == "ecopt"
    assert {tuple(s["values"]) for s in results.solutions} == {tuple(t.values) for t in study.best_trials}
    assert all(set(s["params"]) == {"width", "lr"} for s in results.solutions)


def test_string_choices_reach_the_app_as_the_same_strings(multirun, tmp_path: Path) -> None:
    """issue 15 item 6: spaces, commas, '=', quotes, and quoted 'true'/'null'/'1e3' stay those strings."""
    sweep = tmp_path / "sweep"
    multirun(
        "width=choice(8,16)",
        """+z=choice('a b','c,d','e=f',"it's",'true','null','1e3')""",
        "hydra.sweeper.sampler=random",
        "hydra.sweeper.n_trials=5",
    )
    study = load_study(sweep)
    assert len(study.trials) == 5 and all(t.state.name == "COMPLETE" for t in study.trials)
    for trial in study.trials:
        if "z" not in trial.params:  # the baseline: the app's own config has no z
            continue
        job_config = OmegaConf.load(Path(trial.user_attrs["ecopt.job_dir"]) / ".hydra" / "config.yaml")
        assert job_config.z == trial.params["z"] and isinstance(job_config.z, str)
