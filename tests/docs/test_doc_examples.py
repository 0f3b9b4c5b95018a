"""Every shell command and Python snippet of README.md and docs/*.md runs as written.

Each doc's blocks run in order in one fresh folder (a later block may read what an earlier one wrote, e.g.
`ecopt report` after `make demo`), laid out as a checkout: ``examples``, ``conf``, ``scripts``, the Makefile and
a ``.venv`` that is the test's own environment. What the test adds, none of it in the text a user copies:

- budgets: a sweep of the example app gets ``hydra.sweeper.n_trials`` (two trials more than its study has),
  one epoch and one benchmark repeat appended (Hydra's last override wins), ``make demo`` the same through its
  ``DEMO_ARGS`` make variable, taken from the environment; ``make test`` runs ruff and collects the suite
  without running it (``PYTEST_ADDOPTS=--collect-only``: this test is part of that suite; in one process,
  ``PYTEST_PARALLEL=``), and its mypy starts from a copy of the checkout's cache (``MYPY_CACHE_DIR``: a cold
  cache costs a minute of CPU; mypy keys its cache by each file's path, so the checkout's own, used directly,
  was rewritten with this folder's paths and the checkout's next mypy re-hashed every module);
- Python snippets find ``model``, ``datamodule``, ``val_loader`` and ``batch`` defined (the digits example's),
  as the text around them presumes;
- a block with ``<!-- doc-test: skip: reason -->`` above its fence is not run (hardware or servers we lack).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pytest

from tests.docs.blocks import Block, doc_blocks
from tests.processes import shell_group

ROOT = Path(__file__).resolve().parents[2]
DOCS = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
#: appended to each sweep of the example app: one epoch, one benchmark repeat and no precision target (the
#: benchmark would otherwise repeat until its interval is known, up to max_seconds)
BUDGET = "trainer.max_epochs=1 energy.repeats=1 energy.rel_precision=null"
#: new trials per sweep: the baseline and one the sampler proposes
TRIALS_PER_SWEEP = 2
DEFAULT_SWEEP_DIR = "multirun/digits"  # conf/train.yaml's hydra.sweep.dir, also `make demo`'s
#: the stamp scripts/setup.sh leaves in .venv after installing (the same command, also for ECOPT_TORCH_SPEC)
STAMP = (
    '{ cat pyproject.toml scripts/setup.sh; if [ -n "${ECOPT_TORCH_SPEC:-}" ]; then echo "$ECOPT_TORCH_SPEC"; fi; }'
    " | sha256sum | cut -c1-16"
)
_SWEEP = re.compile(r"examples/train\.py\b.*\s-m\b|\bray_workers\b.*\s--\s+examples/train\.py\b")
_STUDY = re.compile(r"(?:--storage|hydra\.sweeper\.storage=)\s*(\S+)|hydra\.sweep\.dir=(\S+)")


def _study_key(command: str) -> str:
    """What a sweep resumes: its storage when one is named (shared by workers), else its sweep dir's database."""
    storage = dir_ = None
    for match in _STUDY.finditer(command):
        storage, dir_ = match[1] or storage, match[2] or dir_
    return storage or dir_ or DEFAULT_SWEEP_DIR


def _trials(studies: dict[str, int], key: str) -> int:
    """``n_trials`` for the next sweep of a study: the trials it has plus two (a sweep resumes its study)."""
    studies[key] = studies.get(key, 0) + 1
    return TRIALS_PER_SWEEP * studies[key]


def _checkout(workdir: Path) -> dict[str, str]:
    """A checkout-like folder whose .venv is this interpreter's environment; returns the environment to use."""
    names = ("examples", "conf", "scripts", "tests", "benchmarks", "Makefile", "pyproject.toml", "hydra_plugins")
    for name in (*names, "ecopt_lightning"):
        (workdir / name).symlink_to(ROOT / name)
    venv = workdir / ".venv"
    venv.mkdir()
    prefix = Path(sys.prefix)
    for name in ("bin", "lib", "include", "pyvenv.cfg"):
        if (prefix / name).exists():
            (venv / name).symlink_to(prefix / name)
    # what scripts/setup.sh leaves after installing: `make` then goes straight to the command
    stamp = subprocess.run(
        STAMP,
        shell=True,
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (venv / ".ecopt-installed").write_text(stamp)
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    cache = workdir / ".mypy_cache"  # pyproject.toml's cache_dir, begun as a copy of the checkout's
    if (ROOT / ".mypy_cache").is_dir():
        shutil.copytree(ROOT / ".mypy_cache", cache, dirs_exist_ok=True)
    env["MYPY_CACHE_DIR"] = str(cache)
    return env


def _with_budget(text: str, studies: dict[str, int]) -> str:
    """The block with budget overrides after each sweep command of the example app."""
    out = []
    for line in text.replace("\\\n", " ").splitlines():
        if _SWEEP.search(line):
            command, _, comment = line.partition(" #")
            command = command.rstrip()
            background = command.endswith("&")  # `cmd ... &`: the overrides go before the `&`
            command = command.removesuffix("&").rstrip()
            n_trials = _trials(studies, _study_key(command))
            line = f"{command} hydra.sweeper.n_trials={n_trials} {BUDGET}" + (" &" if background else "")
            line += f"  #{comment}" if comment else ""
        out.append(line)
    return "\n".join(out) + "\n"


def _run_shell(block: Block, workdir: Path, env: dict[str, str], studies: dict[str, int]) -> None:
    script = _with_budget(block.text, studies)
    env = {**env, "PYTEST_ADDOPTS": "--collect-only -q -p no:cacheprovider", "PYTEST_PARALLEL": ""}
    if "make demo" in script:
        env["DEMO_ARGS"] = f"hydra.sweeper.n_trials={_trials(studies, DEFAULT_SWEEP_DIR)} {BUDGET}"
    # output to files, not pipes, and the block's own process group killed after it (and with the test
    # process): a process a block left in the background (a failed block never reaching its `kill`, a proxy
    # whose `trap` a killed pytest never ran) must neither keep the test waiting nor run on after it
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        with shell_group(script, cwd=workdir, env=env, stdout=stdout, stderr=stderr) as proc:
            returncode = proc.wait(timeout=900)
        stdout.seek(0)
        stderr.seek(0)
        tail = f"{stdout.read()[-3000:]}\n{stderr.read()[-3000:]}"
    assert returncode == 0, f"{block.id} failed (exit {returncode}):\n{script}\n{tail}"


def _fixtures() -> dict[str, object]:
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from digits import DigitsClassifier, DigitsDataModule
    finally:
        sys.path.remove(str(ROOT / "examples"))
    datamodule = DigitsDataModule(batch_size=64)
    datamodule.setup("fit")
    val_loader = datamodule.val_dataloader()
    return {
        "model": DigitsClassifier(width=32, depth=1),
        "datamodule": datamodule,
        "val_loader": val_loader,
        "batch": next(iter(val_loader))[0],
    }


def _run_python(block: Block, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(workdir)
    namespace = {"__name__": "__doc_example__", **_fixtures()}
    loggers = {name: logging.getLogger(name).level for name in ("lightning.pytorch", "lightning.fabric")}
    try:
        with warnings.catch_warnings():  # a snippet may set filters and levels: not for the tests after it
            exec(compile(block.text, block.id, "exec"), namespace)
    finally:
        for name, level in loggers.items():
            logging.getLogger(name).setLevel(level)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a doc runs several real sweeps (budgets appended), one after another
@pytest.mark.parametrize("doc", DOCS)
def test_every_block_of_the_doc_runs_as_written(doc: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = doc_blocks(ROOT, [doc])
    env = _checkout(tmp_path)
    studies: dict[str, int] = {}
    ran = 0
    for block in blocks:
        if block.skip:
            continue
        if block.lang == "shell":
            _run_shell(block, tmp_path, env, studies)
        else:
            _run_python(block, tmp_path, monkeypatch)
        ran += 1
    skipped = [f"{b.id}: {b.skip}" for b in blocks if b.skip]
    if not ran and not skipped:
        pytest.skip(f"{doc} has no shell or Python block")
    assert ran or skipped


def test_each_sweep_gets_the_budget_and_two_trials_more_than_its_study_has() -> None:
    text = (
        "python examples/train.py -m hydra.sweep.dir=multirun/a  # first\n"
        "python examples/train.py -m \\\n    hydra.sweep.dir=multirun/a &\n"
        "python examples/train.py -m hydra.sweeper.storage=grpc://localhost:1 hydra.sweep.dir=multirun/w0\n"
        "python -m ecopt_lightning.sweeper.ray_workers --storage journal:///x.log -- examples/train.py a=1\n"
        "python examples/train.py a=1\n"  # one run, no sweep
    )
    studies: dict[str, int] = {}
    lines = _with_budget(text, studies).splitlines()
    assert lines[0] == f"{text.split('  #')[0]} hydra.sweeper.n_trials=2 {BUDGET}  # first"
    assert lines[1].endswith(f"multirun/a hydra.sweeper.n_trials=4 {BUDGET} &")  # resumes multirun/a
    assert lines[2].endswith(f"multirun/w0 hydra.sweeper.n_trials=2 {BUDGET}")  # a fresh study, on the proxy
    assert lines[3].endswith(f"-- examples/train.py a=1 hydra.sweeper.n_trials=2 {BUDGET}")
    assert lines[4] == "python examples/train.py a=1"
    assert studies == {"multirun/a": 2, "grpc://localhost:1": 1, "journal:///x.log": 1}


def test_a_skipped_block_says_why_and_every_doc_is_covered() -> None:
    blocks = doc_blocks(ROOT, DOCS)
    assert {b.path for b in blocks} >= {"README.md", "docs/callback.md", "docs/sweeper.md"}
    for block in blocks:
        assert block.skip is None or len(block.skip) > 10, f"{block.id}: a skip needs a reason"
    assert sum(b.skip is None for b in blocks) >= 8  # most blocks run: skipping is for hardware we lack


def test_setup_installs_again_for_another_torch_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """README: "set ECOPT_TORCH_SPEC to choose another PyTorch build". Once .venv was set up, setting it did
    nothing: scripts/setup.sh found its stamp and exited 0, keeping the build it had installed."""
    monkeypatch.delenv("ECOPT_TORCH_SPEC", raising=False)
    env = _checkout(tmp_path)  # set up, as with no ECOPT_TORCH_SPEC
    same = subprocess.run(["bash", "scripts/setup.sh"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert same.returncode == 0 and not same.stdout + same.stderr  # nothing to install
    # a build no index has, and no index: pip must be asked for it, and fails without touching anything
    other = {**env, "ECOPT_TORCH_SPEC": "torch==0.0.0", "PIP_NO_INDEX": "1"}
    asked = subprocess.run(["bash", "scripts/setup.sh"], cwd=tmp_path, env=other, capture_output=True, text=True)
    assert asked.returncode != 0 and "torch==0.0.0" in asked.stderr, asked.stderr
