"""A storage URL's password never appears in logs, artifacts, reports, Hydra's config copies or errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from ecopt_lightning.cli import main as ecopt_main
from ecopt_lightning.sweeper._secrets import mask_config, scrub_tree
from ecopt_lightning.sweeper._storage import open_storage
from ecopt_lightning.sweeper._urls import password, redact
from ecopt_lightning.sweeper.errors import SweeperConfigError

from .conftest import ok, run


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:p%40ss@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql+psycopg2://u:pw@h/db?sslmode=require", "postgresql+psycopg2://u:***@h/db?sslmode=require"),
        ("mysql://u:pw@h/db?password=pw2", "mysql://u:***@h/db?password=***"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_unreachable_database_error_has_no_password() -> None:
    with pytest.raises(SweeperConfigError) as info:
        open_storage("postgresql://ecopt:Zq8pw_secret@127.0.0.1:1/db", heartbeat_interval_s=60)
    assert "Zq8pw_secret" not in str(info.value) and "ecopt:***@127.0.0.1:1" in str(info.value)


def test_mask_and_scrub(tmp_path: Path) -> None:
    url = "postgresql://u:Zq8pw_secret@h/db"
    cfg = OmegaConf.create({"hydra": {"sweeper": {"storage": url}, "overrides": {"hydra": [f"x={url}"]}}})
    mask_config(cfg, url)
    assert "Zq8pw_secret" not in OmegaConf.to_yaml(cfg)
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "hydra.yaml").write_text(f"storage: {url}\n")
    assert scrub_tree([tmp_path], url) == 1
    assert (tmp_path / ".hydra" / "hydra.yaml").read_text() == "storage: postgresql://u:***@h/db\n"
    assert password(url) == "Zq8pw_secret"


@pytest.mark.postgres
@pytest.mark.slow
def test_a_postgres_sweep_writes_its_password_nowhere(tmp_path: Path, postgres_url: str, study_name: str) -> None:
    secret = password(postgres_url)
    assert secret, "the test server's URL should carry a password"
    sweep = tmp_path / "sweep"
    proc = ok(
        run(
            sweep,
            "width=choice(8,16)",
            f"hydra.sweeper.storage={postgres_url}",
            f"hydra.sweeper.study_name={study_name}",
            "hydra.sweeper.n_trials=2",
            "hydra.sweeper.n_jobs=2",
            "hydra.sweeper.loggers=[tensorboard]",
        )
    )
    assert secret not in proc.stdout + proc.stderr
    assert ecopt_main(["report", "--storage", postgres_url, "--study", study_name, "--out", str(tmp_path / "r")]) == 0
    leaks = [p for p in tmp_path.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert not leaks
    assert "ecopt:***@" in (sweep / "0" / ".hydra" / "hydra.yaml").read_text()  # Hydra's copy, masked
