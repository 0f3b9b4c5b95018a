"""A storage URL's password never appears in logs, artifacts, reports, Hydra's config copies or errors."""

from __future__ import annotations

import base64
import http.server
import signal
import string
import subprocess
import threading
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from ecopt_lightning.cli import main as ecopt_main
from ecopt_lightning.sweeper._secrets import mask_config, scrub_tree
from ecopt_lightning.sweeper._storage import open_storage
from ecopt_lightning.sweeper._urls import password, redact, secrets
from ecopt_lightning.sweeper.config import validate
from ecopt_lightning.sweeper.errors import SweeperConfigError
from ecopt_lightning.sweeper.ray_workers import worker_command, worker_env
from tests.sweeper.conftest import APPS

from .conftest import SUBPROCESS_S, ok, run, sweep_cmd, sweep_env


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


#: passwords of every printable character, "/ # ? @ : & %" included; the fixed ends keep each one long enough
#: that finding it in a text cannot be chance
PASSWORDS = st.text(alphabet=string.printable, min_size=0, max_size=12).map(lambda middle: f"Q7{middle}J4")
SPECIAL = ("SEKRETb/x", "SEKRET#x", "SEKRET?x", "SEKRETa@x", "SEK/RET#?@1", "p@ss:w/rd?#&=%41")


def _leaks(text: str, pw: str) -> list[str]:
    """The forms of ``pw`` (as written, percent-decoded, and either side of a raw "@") found in ``text``."""
    forms = {pw, unquote(pw), *(part for part in pw.split("@") if len(part) >= 6)}
    return [f for f in forms if f in text]


@settings(max_examples=200, deadline=None)
@given(pw=PASSWORDS, encoded=st.booleans(), query=st.sampled_from(["", "?sslmode=require", "?a=b&c=d"]))
def test_any_printable_password_is_redacted_raw_or_percent_encoded(pw: str, encoded: bool, query: str) -> None:
    written = quote(pw, safe="") if encoded else pw
    url = f"postgresql+psycopg2://ecopt:{written}@db.example:5432/optuna{query}"
    assert redact(url) == f"postgresql+psycopg2://ecopt:***@db.example:5432/optuna{query}"
    assert password(url) == written
    assert written in secrets(url) and unquote(written) in secrets(url)
    query_url = f"postgresql://ecopt@db.example/optuna?sslmode=require&password={written}"
    assert redact(query_url) == "postgresql://ecopt@db.example/optuna?sslmode=require&password=***"
    assert written in secrets(query_url)


@settings(max_examples=25, deadline=None)
@given(pw=PASSWORDS, encoded=st.booleans())
def test_the_one_line_error_of_an_unreachable_database_shows_no_password(pw: str, encoded: bool) -> None:
    url = f"postgresql://ecopt:{quote(pw, safe='') if encoded else pw}@127.0.0.1:1/db"
    with pytest.raises(SweeperConfigError) as info:
        open_storage(url, heartbeat_interval_s=60)
    text = str(info.value)
    assert "\n" not in text.strip()
    assert not _leaks(text, pw), text


@pytest.mark.parametrize("pw", SPECIAL)
def test_raw_special_characters_in_a_password_are_not_shown_in_errors(pw: str) -> None:
    url = f"postgresql://u:{pw}@127.0.0.1:1/db"
    assert redact(url) == "postgresql://u:***@127.0.0.1:1/db"
    with pytest.raises(SweeperConfigError) as info:
        open_storage(url, heartbeat_interval_s=60)
    assert not _leaks(str(info.value), pw), str(info.value)
    with pytest.raises(SweeperConfigError) as bad:  # not allowed at all: shown redacted
        validate({"storage": f"redis://u:{pw}@127.0.0.1:1/db"})
    assert not _leaks(str(bad.value), pw), str(bad.value)


@settings(max_examples=60, deadline=None)
@given(pw=PASSWORDS)
@example(pw="Q7${J4")  # found by hypothesis: the config held it unescaped (an interpolation); escaped, left unmasked
def test_hydra_config_copies_are_masked_for_any_password(pw: str) -> None:
    url = f"postgresql://u:{pw}@h/db"
    written = url.replace("${", "\\${")  # as in Hydra's config: "${" escaped, or it is an interpolation
    cfg = OmegaConf.create(
        {"hydra": {"sweeper": {"storage": written}, "overrides": {"hydra": [f"hydra.sweeper.storage={written}"]}}}
    )
    mask_config(cfg, url)
    assert cfg.hydra.sweeper.storage == "postgresql://u:***@h/db"
    assert list(cfg.hydra.overrides.hydra) == ["hydra.sweeper.storage=postgresql://u:***@h/db"]


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


@pytest.mark.postgres
@pytest.mark.slow
def test_an_ssl_key_passphrase_in_the_query_is_written_nowhere(tmp_path: Path, postgres_url: str, study_name) -> None:
    """libpq's ``sslpassword`` (the passphrase of the client's SSL key) in the URL's query was not taken for a
    password: shown in the log line naming the storage, and in every job's .hydra copy."""
    url = postgres_url + "?sslmode=disable&sslpassword=Zq8sslpw_x"
    sweep = tmp_path / "sweep"
    proc = ok(run(sweep, "width=choice(8,16)", f"hydra.sweeper.storage='{url}'",
                  f"hydra.sweeper.study_name={study_name}", "hydra.sweeper.n_trials=2"))  # fmt: skip
    assert "sslpassword=***" in proc.stdout + proc.stderr  # the log line names the storage, masked
    assert "Zq8sslpw_x" not in proc.stdout + proc.stderr
    assert len(list(sweep.glob("*/.hydra/hydra.yaml"))) == 2  # every job's Hydra copy is among the files checked
    assert not [str(p) for p in tmp_path.rglob("*") if p.is_file() and b"Zq8sslpw_x" in p.read_bytes()]


@pytest.mark.postgres
@pytest.mark.slow
def test_a_url_read_from_the_environment_keeps_its_query_and_is_written_nowhere(
    tmp_path: Path, postgres_url: str, study_name: str
) -> None:
    """``hydra.sweeper.storage=${oc.env:DB_URL}`` keeps the password off the command line; masking the overrides
    resolved it into the URL itself, unquoted, and Hydra could not compose any job: "mismatched input '='"."""
    secret = password(postgres_url)
    assert secret
    url = postgres_url + "?sslmode=disable&application_name=ecopt,env"
    sweep = tmp_path / "sweep"
    proc = ok(
        run(
            sweep,
            "width=choice(8,16)",
            "hydra.sweeper.storage=${oc.env:ECOPT_TEST_DB_URL}",
            f"hydra.sweeper.study_name={study_name}",
            "hydra.sweeper.n_trials=2",
            env={"ECOPT_TEST_DB_URL": url},
        )
    )
    assert secret not in proc.stdout + proc.stderr
    store = open_storage(url, heartbeat_interval_s=0)
    assert len(store.get_all_trials(store.get_study_id_from_name(study_name))) == 2
    assert not [str(p) for p in tmp_path.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert "${oc.env:ECOPT_TEST_DB_URL}" in (sweep / "0" / ".hydra" / "hydra.yaml").read_text()  # as given


@pytest.mark.postgres
@pytest.mark.slow
def test_a_killed_runs_job_dirs_are_scrubbed_by_the_next_run(
    tmp_path: Path, postgres_url: str, study_name: str
) -> None:
    # a URL written in the app's YAML comes back in every job's Hydra copy; a kill -9 left them unscrubbed and
    # the rerun scrubbed only its own batches (fault audit, 2026-11-28). The dead run's job dir, as Hydra wrote it:
    secret = password(postgres_url)
    assert secret
    sweep = tmp_path / "sweep"
    left = sweep / "7" / ".hydra" / "hydra.yaml"
    left.parent.mkdir(parents=True)
    left.write_text(f"hydra:\n  sweeper:\n    storage: {postgres_url}\n")
    ok(run(sweep, "width=choice(8,16)", f"hydra.sweeper.storage={postgres_url}",
           f"hydra.sweeper.study_name={study_name}", "hydra.sweeper.n_trials=1"))  # fmt: skip
    assert secret not in left.read_text() and "***@" in left.read_text()


@pytest.mark.postgres
@pytest.mark.slow
def test_a_url_in_the_apps_yaml_is_masked_in_a_jobs_copy_from_its_start(
    tmp_path: Path, postgres_url: str, study_name: str
) -> None:
    # the job's Hydra copy is written as it starts: a kill -9 during the job leaves it as it was then
    secret = password(postgres_url)
    assert secret
    conf = tmp_path / "conf"
    conf.mkdir()
    url = postgres_url.replace("'", "''")
    (conf / "pg.yaml").write_text(f"defaults:\n  - toy\n  - _self_\nhydra:\n  sweeper:\n    storage: '{url}'\n")
    sweep = tmp_path / "sweep"
    cmd = sweep_cmd(sweep, "width=choice(8,16)", f"hydra.sweeper.study_name={study_name}", "hydra.sweeper.n_trials=2",
                    f"die_marker={tmp_path / 'died.txt'}")  # fmt: skip
    cmd[2:2] = ["--config-dir", str(conf), "--config-name", "pg"]  # flags before the overrides
    died = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=sweep_env(), timeout=SUBPROCESS_S)
    assert died.returncode == -signal.SIGKILL, died.stderr[-2000:]
    (copy,) = [p for p in sweep.glob("*/.hydra/hydra.yaml")]
    assert secret not in copy.read_text() and "ecopt:***@" in copy.read_text()


@pytest.fixture
def special_role(request, postgres_url: str, study_name: str):
    """A throw-away role on the test server whose password holds a raw "/ # ? :" (or the start given as the
    fixture's param); yields its URL (raw)."""
    import sqlalchemy as sa

    from ecopt_lightning.sweeper._storage import with_driver

    pw = getattr(request, "param", "Sek/R#t?1:w") + study_name[-6:]
    open_storage(postgres_url, heartbeat_interval_s=60)  # Optuna's tables exist, owned by the test user
    admin = sa.create_engine(with_driver(postgres_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            try:
                c.execute(sa.text(f"CREATE ROLE {study_name} LOGIN PASSWORD '{pw.replace(chr(39), chr(39) * 2)}'"))
            except sa.exc.ProgrammingError as exc:
                pytest.skip(f"the test role cannot create roles (run scripts/postgres.sh again): {exc}")
            c.execute(sa.text(f"GRANT USAGE, CREATE ON SCHEMA public TO {study_name}"))
            c.execute(sa.text(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {study_name}"))
            c.execute(sa.text(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {study_name}"))
        head, rest = postgres_url.split("://", 1)
        yield f"{head}://{study_name}:{pw}@{rest.split('@', 1)[1]}", pw
    finally:
        with admin.connect() as c:
            for what in ("ALL TABLES IN SCHEMA public", "ALL SEQUENCES IN SCHEMA public", "SCHEMA public"):
                c.execute(sa.text(f"REVOKE ALL ON {what} FROM {study_name}"))
            c.execute(sa.text(f"DROP ROLE IF EXISTS {study_name}"))
        admin.dispose()


@pytest.mark.postgres
@pytest.mark.slow
def test_a_raw_slash_hash_and_question_mark_in_a_real_password_are_written_nowhere(
    tmp_path: Path, special_role: tuple[str, str], study_name: str
) -> None:
    url, pw = special_role
    sweep = tmp_path / "sweep"
    quoted = "'" + url.replace("\\", "\\\\").replace("'", "\\'") + "'"  # a Hydra quoted string
    proc = ok(
        run(
            sweep,
            "width=choice(8,16)",
            f"hydra.sweeper.storage={quoted}",
            f"hydra.sweeper.study_name={study_name}",
            "hydra.sweeper.n_trials=2",
        )
    )
    output = proc.stdout + proc.stderr
    assert f"in postgresql://{study_name}:***@" in output  # the log line names the storage, masked
    assert not _leaks(output, pw)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    jobs = [p for p in files if p.name == "hydra.yaml" and p.parent.name == ".hydra" and p.parent.parent != sweep]
    assert len(jobs) >= 2  # every job's Hydra copy is among the files checked
    leaks = {str(p): _leaks(p.read_bytes().decode("utf-8", "replace"), pw) for p in files}
    assert not {k: v for k, v in leaks.items() if v}
    assert f"{study_name}:***@" in jobs[0].read_text()


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("special_role", ["Sek'R\"t?1:w"], indirect=True)
def test_a_quote_in_a_real_password_is_written_nowhere_by_a_ray_worker(
    tmp_path: Path, special_role: tuple[str, str], study_name: str
) -> None:
    """ray_workers wrote the storage as a quoted Hydra string, where a quote in the password is escaped: that
    form (``Sek\\'R...``) was left in every job's copy of the Hydra config (.hydra/hydra.yaml). (It now gives the
    worker the URL in its environment, which Hydra reads through ``${oc.env:...}``.)"""
    url, pw = special_role
    sweep = tmp_path / "sweep"
    command = worker_command(str(APPS / "toy.py"), ["width=choice(8,16)", "hydra.sweeper.n_trials=2"], study_name,
                             sweep, 0)  # fmt: skip
    env = sweep_env(worker_env(url))
    proc = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=SUBPROCESS_S)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    tail = pw.split('"')[-1]  # the end of the password, after its last quote: in every written form of it
    assert len(tail) >= 8 and tail not in proc.stdout + proc.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len([p for p in files if p.name == "overrides.yaml"]) >= 2  # every job's Hydra copy is checked
    assert not [str(p) for p in files if tail.encode() in p.read_bytes()]


def test_masking_changes_only_the_overrides_that_set_the_storage() -> None:
    # a password that is also a word of other overrides (first-hour audit: with "admin" the jobs went to
    # /tmp/***/sw; with "ecopt" Hydra could not find hydra/sweeper/***)
    for pw, other in (("admin", "hydra.sweep.dir=/tmp/admin/sw"), ("ecopt", "hydra/sweeper=ecopt")):
        url = f"postgresql://u:{pw}@h/db"
        cfg = OmegaConf.create(
            {"hydra": {"sweeper": {"storage": url}, "overrides": {"hydra": [other, f"hydra.sweeper.storage='{url}'"]}}}
        )
        mask_config(cfg, url)
        assert list(cfg.hydra.overrides.hydra) == [other, "hydra.sweeper.storage='postgresql://u:***@h/db'"]


def test_a_storage_config_is_refused_without_its_password() -> None:
    # a storage written as {_target_: optuna.storages.RDBStorage, ...} with more than its url is refused; the
    # error showed the mapping as given, password and all
    storage = {"_target_": "optuna.storages.RDBStorage", "url": "postgresql://u:Zq8pw_secret@h/db", "engine_kwargs": {}}
    with pytest.raises(SweeperConfigError) as info:
        validate({"storage": storage})
    assert "Zq8pw_secret" not in str(info.value) and "postgresql://u:***@h/db" in str(info.value)
    good = {"_target_": "optuna.storages.RDBStorage", "url": "sqlite:///x.db"}
    assert validate({"storage": good}).storage == "sqlite:///x.db"


def _refusing_tracking_server() -> tuple[http.server.HTTPServer, list[str]]:
    """A stand-in MLflow tracking server on a free local port, serving in a thread until ``shutdown()``: it refuses
    every request (401) and keeps the Authorization header of each, where the client sends the URI's password."""
    seen: list[str] = []

    class Refuses(http.server.BaseHTTPRequestHandler):  # where the MLflow client sends its first request
        def do_POST(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            self.send_response(401)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Refuses)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


def _basic_auth(user: str, pw: str) -> str:
    """The Authorization header of HTTP basic auth for ``user`` and ``pw``."""
    return "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()


def test_a_password_in_the_loggers_tracking_uri_is_written_nowhere_but_reaches_the_logger(tmp_path: Path) -> None:
    """Regression: ``hydra.sweeper.logger_kwargs.mlflow.tracking_uri`` with a password (a tracking server behind
    basic auth, or a database) was copied as written into every job's ``.hydra/hydra.yaml`` and its overrides;
    only the storage URL was masked. The logger itself must still get the URI as written."""
    from tests.sweeper.conftest import run_multirun

    server, seen = _refusing_tracking_server()
    pw = "Lg9_tracking_secret"
    uri = f"http://u:{pw}@127.0.0.1:{server.server_port}"
    try:
        proc = run_multirun(
            tmp_path / "sweep",
            "width=choice(4,8)",
            "hydra.sweeper.n_trials=2",
            "hydra.sweeper.loggers=[mlflow]",
            f"+hydra.sweeper.logger_kwargs={{mlflow: {{tracking_uri: '{uri}'}}}}",
            env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"},
        )
    finally:
        server.shutdown()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert seen and seen[0] == _basic_auth("u", pw)  # the URI as written
    assert "logger mlflow failed" in proc.stdout + proc.stderr
    assert pw not in proc.stdout + proc.stderr
    leaks = [p for p in (tmp_path / "sweep").rglob("*") if p.is_file() and pw.encode() in p.read_bytes()]
    assert leaks == []
    copies = list((tmp_path / "sweep").glob("*/.hydra/hydra.yaml"))
    assert len(copies) == 2 and all("u:***@127.0.0.1" in p.read_text() for p in copies)


def test_a_loggers_password_given_to_ray_workers_is_on_no_workers_command_line(tmp_path: Path) -> None:
    """An override holding a password (``hydra.sweeper.logger_kwargs``: a tracking server's URL) was copied as
    given onto every worker sweeper's command line, where every user of the node read it (``ps``). The worker now
    reads its value from its environment; the logger still gets the URI as given."""
    server, seen = _refusing_tracking_server()
    pw = "Lg9'ray_secret"  # a quote: the value is written as a Hydra literal and read back by oc.decode
    uri = f"http://u:{pw}@127.0.0.1:{server.server_port}"
    written = "'" + uri.replace("'", "\\'") + "'"  # a Hydra quoted string
    logger = f"+hydra.sweeper.logger_kwargs={{mlflow: {{tracking_uri: {written}}}}}"
    overrides = ["width=choice(4,8)", "hydra.sweeper.n_trials=1", "hydra.sweeper.loggers=[mlflow]", logger]
    command = worker_command(str(APPS / "toy.py"), overrides, "s", tmp_path / "w0", 0)
    assert not [part for part in command if "ray_secret" in part]
    env = sweep_env(
        {**worker_env(f"journal://{tmp_path / 'study.log'}", overrides), "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    )
    try:
        proc = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=SUBPROCESS_S)
    finally:
        server.shutdown()
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert seen and seen[0] == _basic_auth("u", pw)  # the URI as given
    assert "ray_secret" not in proc.stdout + proc.stderr
    assert not [str(p) for p in tmp_path.rglob("*") if p.is_file() and b"ray_secret" in p.read_bytes()]


@pytest.mark.parametrize(
    ("override", "shown"),
    [
        ("+hydra.sweeper.storag=postgresql://ecopt:Zq8pw@127.0.0.1:1/db", "'postgresql://ecopt:***@127.0.0.1:1/db'"),
        (
            "+hydra.sweeper.loger_kwargs={mlflow: {tracking_uri: 'http://u:Zq8pw@h'}}",
            "{mlflow: {tracking_uri: 'http://u:***@h'}}",
        ),
    ],
)
def test_a_mistyped_field_holding_a_password_is_refused_without_it(tmp_path: Path, override: str, shown: str) -> None:
    """A mistyped ``storage`` or ``logger_kwargs`` was refused as 'not a field of the ecopt sweeper' with its value as
    given, password and all."""
    proc = run(tmp_path / "sweep", "width=choice(8,16)", override)
    assert proc.returncode == 1 and "Zq8pw" not in proc.stdout + proc.stderr, proc.stderr
    key = override.split("=", 1)[0].lstrip("+")
    assert f"{key}={shown} is not allowed: not a field of the ecopt sweeper" in proc.stderr, proc.stderr
    assert not (tmp_path / "sweep").exists()


@pytest.mark.parametrize(
    ("override", "said"),
    [
        (
            "hydra.sweeper.storage=postgresql://ecopt:Zq8pw@127.0.0.1:1/db,x",
            "hydra.sweeper.storage=postgresql://ecopt:***@127.0.0.1:1/db,x: Hydra reads a ',' outside quotes as a "
            "sweep, which it does not allow in its own config; quote the value ('...')",
        ),
        (
            "hydra.sweeper.storag=postgresql://ecopt:Zq8pw@127.0.0.1:1/db",
            "hydra.sweeper.storag=postgresql://ecopt:***@127.0.0.1:1/db is not allowed: not a field of the ecopt "
            "sweeper (see docs/sweeper.md)",
        ),
    ],
)
def test_an_override_hydra_would_print_is_said_without_its_password(tmp_path: Path, override: str, said: str) -> None:
    """Hydra refuses these by printing the override whole: "Sweeping over Hydra's configuration is not supported :
    '<override>'" (a comma outside quotes, as in an unquoted ?application_name=a,b) and "To append to your config
    use +<override>" (a mistyped field), password and all."""
    proc = run(tmp_path / "sweep", "width=choice(8,16)", override)
    assert proc.returncode == 1 and proc.stderr.splitlines() == [said], proc.stderr
    assert "Zq8pw" not in proc.stdout + proc.stderr
    assert not (tmp_path / "sweep").exists()


def test_a_bad_logger_kwargs_is_refused_without_the_password_in_it() -> None:
    raw = {"loggers": ["mlflow"], "logger_kwargs": {"mlfow": {"tracking_uri": "postgresql://u:Lg9pw@h/db"}}}
    with pytest.raises(SweeperConfigError) as bad:
        validate(raw)
    assert "Lg9pw" not in str(bad.value) and "u:***@h/db" in str(bad.value)
