"""``ecopt report`` as a user runs it after a real sweep: a named trial that cannot be compared is refused in one
line before anything is written, and output piped into a reader that leaves early (``| head``) ends quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from ecopt_lightning.cli import main as ecopt_main

from .conftest import ROOT, run_multirun


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A toy sweep of three trials, then a failed trial added to its study (trial 3)."""
    sweep = tmp_path_factory.mktemp("report") / "sweep"
    proc = run_multirun(sweep, "width=choice(8,16,32)", "hydra.sweeper.n_trials=3", "hydra.sweeper.sampler=random")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    study = optuna.load_study(study_name="toy", storage=f"sqlite:///{sweep / 'ecopt.db'}")
    study.tell(study.ask(), state=TrialState.FAIL)
    return sweep


@pytest.mark.parametrize(
    ("flag", "number", "why"),
    [("--chosen", 3, "trial 3 is FAIL"), ("--baseline", 9, "no trial 9 in the study")],
)
def test_a_named_trial_without_values_is_refused_in_one_line(
    capsys, tmp_path: Path, sweep: Path, flag: str, number: int, why: str
) -> None:
    out = tmp_path / "r"
    args = ["report", "--storage", f"sqlite:///{sweep / 'ecopt.db'}", "--study", "toy", "--out", str(out)]
    assert ecopt_main([*args, flag, str(number)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"ecopt report: {flag} {number} is not allowed: {why}; give a COMPLETE trial: 0, 1, 2"]
    assert not out.exists()  # refused before anything was written, and the folder made to check --out is gone
    assert ecopt_main([*args, flag, "1"]) == 0  # a complete one is taken


def test_output_into_a_reader_that_left_ends_without_a_traceback(tmp_path: Path, sweep: Path) -> None:
    cmd = [sys.executable, "-m", "ecopt_lightning.cli", "report", "--storage", f"sqlite:///{sweep / 'ecopt.db'}"]
    cmd += ["--study", "toy", "--out", str(tmp_path / "r")]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first line is printed (as `| head -0`)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 141, err
    assert err == ""  # no BrokenPipeError, no "Exception ignored" at exit
    assert (tmp_path / "r" / "pareto_front.json").exists()  # the files were written first


@pytest.mark.parametrize(
    ("command", "said"),
    [("report", "ecopt report: interrupted (Ctrl-C)"),
     ("confirm", "ecopt confirm: interrupted (Ctrl-C); nothing confirmed: the study keeps its values (the energy "
                 "measured so far counts in what tuning cost)")],
)  # fmt: skip
def test_ctrl_c_in_a_command_is_one_line_and_130(capsys, monkeypatch, sweep: Path, command: str, said: str) -> None:
    from ecopt_lightning import cli

    def pressed(args) -> int:
        raise KeyboardInterrupt  # Ctrl-C while the command runs (as Python delivers SIGINT)

    help_text, add_arguments, _ = cli.SUBCOMMANDS[command]
    monkeypatch.setitem(cli.SUBCOMMANDS, command, (help_text, add_arguments, pressed))
    assert ecopt_main([command, "--storage", f"sqlite:///{sweep / 'ecopt.db'}", "--study", "toy"]) == 130
    assert capsys.readouterr().err.strip().splitlines() == [said]


def test_a_file_that_cannot_be_written_is_one_line_not_a_traceback(capsys, tmp_path: Path, sweep: Path) -> None:
    out = tmp_path / "r"
    (out / "summary.json").mkdir(parents=True)  # an artifact's name taken by a folder: os.replace refuses
    args = ["report", "--storage", f"sqlite:///{sweep / 'ecopt.db'}", "--study", "toy", "--out", str(out)]
    assert ecopt_main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"ecopt report: cannot write the files into --out {str(out)!r}: Is a directory: {out}/summary.json"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a folder without write permission")
@pytest.mark.parametrize("command", ["report", "confirm"])
def test_a_read_only_out_is_refused_before_anything_is_measured(capsys, tmp_path: Path, command: str) -> None:
    out = tmp_path / "r"
    out.mkdir(mode=0o555)
    storage = f"sqlite:///{tmp_path / 'missing.db'}"  # refused on --out first: nothing is opened or measured
    assert ecopt_main([command, "--storage", storage, "--study", "toy", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"ecopt {command}: --out {str(out)!r} is not allowed: Permission denied; give a folder"]


@pytest.mark.parametrize("command", ["report", "confirm"])
def test_an_out_on_a_read_only_file_system_is_refused_first(capsys, monkeypatch, tmp_path: Path, command: str) -> None:
    """As the test above, for any user: the folder exists, and creating a file in it fails (a read-only mount)."""
    import errno
    import tempfile

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    out = tmp_path / "r"
    out.mkdir()
    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    storage = f"sqlite:///{tmp_path / 'missing.db'}"
    assert ecopt_main([command, "--storage", storage, "--study", "toy", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"ecopt {command}: --out {str(out)!r} is not allowed: Read-only file system; give a folder"]


def test_confirm_writes_its_files_before_a_reader_that_left_early(monkeypatch, tmp_path: Path) -> None:
    """`ecopt confirm ... | head -1`: the values were stored on the study, then the pipe broke while the table
    was printed, before any file was written."""
    from ecopt_lightning.sweeper import _confirm
    from ecopt_lightning.sweeper._schema import ReportSettings
    from ecopt_lightning.sweeper._sweep_report import build_report

    study = optuna.create_study(directions=["maximize", "minimize"])
    study.add_trial(optuna.trial.create_trial(values=[0.9, 0.01]))
    report = build_report("s", study.get_trials(), ReportSettings(["acc", "e"], ["maximize", "minimize"]))
    monkeypatch.setattr(_confirm, "confirm", lambda *a, **k: _confirm.Confirmation(report, report, {}, set()))

    class LeftReader:
        """stdout whose reader is gone: every write breaks the pipe (its fd stands for the one dup2 replaces)."""

        def __init__(self, fd: int) -> None:
            self.fd = fd

        def write(self, text: str) -> int:
            raise BrokenPipeError

        def flush(self) -> None:
            pass

        def fileno(self) -> int:
            return self.fd

    with open(tmp_path / "stdout", "w") as spare:
        monkeypatch.setattr(sys, "stdout", LeftReader(spare.fileno()))
        code = ecopt_main(["confirm", "--storage", "sqlite:///x.db", "--study", "s", "--out", str(tmp_path / "r")])
    assert code == 141
    assert (tmp_path / "r" / "pareto_front.json").exists() and (tmp_path / "r" / "energy_report.md").exists()


def test_an_empty_storage_file_is_refused_and_left_as_it_was(capsys, tmp_path: Path) -> None:
    """An empty SQLite file: ecopt report wrote Optuna's schema into it (114 kB) before saying it held no study."""
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    assert (
        ecopt_main(["report", "--storage", f"sqlite:///{empty}", "--study", "toy", "--out", str(tmp_path / "r")]) == 2
    )
    assert capsys.readouterr().err.strip().splitlines() == [
        f"ecopt report: --storage sqlite:///{empty}: {empty} is empty: it holds no study"
    ]
    assert empty.read_bytes() == b""


def test_the_default_out_of_a_study_named_with_a_slash_is_one_folder_here(monkeypatch, tmp_path: Path) -> None:
    # `--study a/b` wrote into ./ecopt-report-a/b, a folder inside another
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(study_name="digits/v2", storage=storage, directions=["maximize", "minimize"])
    study.set_metric_names(["val_acc", "energy/total_J"])
    study.add_trial(optuna.trial.create_trial(values=[0.9, 2.0]))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert ecopt_main(["report", "--storage", storage, "--study", "digits/v2"]) == 0
    assert [p.name for p in work.iterdir()] == ["ecopt-report-digits_v2"]
    assert (work / "ecopt-report-digits_v2" / "summary.json").is_file()


def test_a_payback_beside_a_trial_of_unknown_energy_says_it_is_a_lower_bound(tmp_path: Path, sweep: Path) -> None:
    """Regression (artifacts audit, 2026-11-29): trial 3 failed without reporting its energy; the sweep's energy
    said so ('1 trial(s) did not report theirs'), but the payback counted that trial as 0 J and read as exact."""
    import json

    out = tmp_path / "r"
    args = ["report", "--storage", f"sqlite:///{sweep / 'ecopt.db'}", "--study", "toy", "--out", str(out)]
    assert ecopt_main([*args, "--baseline", "2", "--chosen", "0"]) == 0  # width 32 against width 16: it saves
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sweep_energy"]["trials_without_energy"] == 1
    note = summary["impact"]["payback_note"]
    assert summary["impact"]["payback"] > 0 and note.startswith("tuning pays back its "), note
    assert "; at least that many: 1 trial(s) did not report their energy, not counted" in note
    assert f"- Payback: {note}." in (out / "energy_report.md").read_text()
