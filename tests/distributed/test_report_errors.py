"""``ecopt report`` and ``ecopt confirm`` on a storage they cannot read: one line naming the command-line option,
never a traceback, a password or a sweeper field; a wrong study name lists the studies the storage holds."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from ecopt_lightning.cli import main as ecopt_main
from ecopt_lightning.sweeper._storage import open_storage
from ecopt_lightning.sweeper._urls import URLS

COMMANDS = pytest.mark.parametrize("command", ["report", "confirm"])


def _run(capsys: pytest.CaptureFixture[str], command: str, *args: str) -> tuple[int, list[str]]:
    code = ecopt_main([command, *args])
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


@COMMANDS
def test_an_unreachable_database_is_one_line_about_storage(capsys, tmp_path: Path, command: str) -> None:
    url = "postgresql://ecopt:Zq8/pw#secret@127.0.0.1:1/db"
    code, err = _run(capsys, command, "--storage", url, "--study", "s", "--out", str(tmp_path / "r"))
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"ecopt {command}: --storage postgresql://ecopt:***@127.0.0.1:1/db cannot be opened: ")
    assert "Zq8" not in err[0] and "hydra.sweeper" not in err[0]


@COMMANDS
@pytest.mark.parametrize(
    ("url", "shown"),
    [("redis://u:Zq8pw@h/0", "redis://u:***@h/0"), ("postgres://u:Zq8pw@h/db", "postgres://u:***@h/db"), ("", "''")],
)
def test_a_url_that_is_no_storage_says_what_is_allowed(capsys, tmp_path: Path, command: str, url: str, shown) -> None:
    """A URL of no allowed scheme was 'cannot be opened: a reachable storage (opening it failed: NoSuchModuleError:
    Can't load plugin: sqlalchemy.dialects:redis)': SQLAlchemy's words, and not what is allowed."""
    code, err = _run(capsys, command, "--storage", url, "--study", "s", "--out", str(tmp_path / "r"))
    assert code == 2 and err == [f"ecopt {command}: --storage {shown} is not allowed: {URLS}"], err
    assert not (tmp_path / "r").exists()


@COMMANDS
@pytest.mark.parametrize(("name", "form"), [("ecopt.db", "sqlite"), ("ecopt.log", "journal")])
def test_a_path_for_a_url_says_which_url_it_would_be(capsys, tmp_path: Path, command: str, name: str, form: str):
    """Regression (stop 34): the sweep dir's ``ecopt.db`` given as it is (``--storage multirun/.../ecopt.db``, as
    a user types it) named the URL forms but not the one meant."""
    path = tmp_path / name
    url = f"{form}:///{path}"
    optuna.create_study(study_name="s", storage=open_storage(url, heartbeat_interval_s=0))
    code, err = _run(capsys, command, "--storage", str(path), "--study", "s", "--out", str(tmp_path / "r"))
    hint = f"(the file {path}? then --storage {url})"
    assert code == 2 and err == [f"ecopt {command}: --storage {path} is not allowed {hint}: {URLS}"], err
    missing = tmp_path / "none.db"
    code, err = _run(capsys, command, "--storage", str(missing), "--study", "s", "--out", str(tmp_path / "r"))
    assert code == 2 and err == [f"ecopt {command}: --storage {missing} is not allowed: {URLS}"], err
    assert not missing.exists() and not (tmp_path / "r").exists()


@COMMANDS
def test_a_missing_sqlite_file_is_said_and_not_created(capsys, tmp_path: Path, command: str) -> None:
    db = tmp_path / "nowhere.db"
    code, err = _run(capsys, command, "--storage", f"sqlite:///{db}", "--study", "s", "--out", str(tmp_path / "r"))
    assert code == 2 and err == [f"ecopt {command}: --storage sqlite:///{db}: no such file {db}"]
    assert not db.exists()


@COMMANDS
def test_a_wrong_study_name_lists_the_studies_there(capsys, tmp_path: Path, command: str) -> None:
    url = f"sqlite:///{tmp_path / 'ecopt.db'}"
    for name in ("train", "digits"):
        optuna.create_study(study_name=name, storage=url)
    code, err = _run(capsys, command, "--storage", url, "--study", "trian", "--out", str(tmp_path / "r"))
    assert code == 2
    there = f"no study of that name in {url} (did you mean 'train'?); studies there: digits, train"
    assert err == [f"ecopt {command}: --study 'trian': {there}"]


@COMMANDS
def test_a_wrong_study_name_in_a_storage_of_many_studies_is_a_short_line(capsys, tmp_path: Path, command: str) -> None:
    """Regression (reports audit, 2026-11-29): the line listed every study of the storage; on a shared database
    (a team's PostgreSQL, hundreds of studies) that was one line of many kilobytes, the closest name lost in it."""
    url = f"sqlite:///{tmp_path / 'ecopt.db'}"
    for i in range(30):
        optuna.create_study(study_name=f"digits_{i:02d}", storage=url)
    code, err = _run(capsys, command, "--storage", url, "--study", "digit_07", "--out", str(tmp_path / "r"))
    listed = ", ".join(f"digits_{i:02d}" for i in range(20))
    there = f"no study of that name in {url} (did you mean 'digits_07'?); 30 studies there: {listed}, ... (10 more)"
    assert code == 2 and err == [f"ecopt {command}: --study 'digit_07': {there}"]


@pytest.mark.postgres
def test_a_wrong_study_name_on_postgresql_names_the_closest(capsys, tmp_path: Path, postgres_url, study_name) -> None:
    optuna.create_study(study_name=study_name, storage=open_storage(postgres_url, heartbeat_interval_s=0))
    code, err = _run(capsys, "report", "--storage", postgres_url, "--study", study_name + "x", "--out", str(tmp_path))
    assert code == 2 and len(err) == 1
    assert f"(did you mean {study_name!r}?)" in err[0] and "studies there: " in err[0]
    assert len(err[0]) < 2000  # at most 20 names, however many the shared test database holds
