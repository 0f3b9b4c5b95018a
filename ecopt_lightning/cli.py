"""The ``ecopt`` command. Subcommands register themselves in :data:`SUBCOMMANDS`.

Example:
    ``ecopt report --storage sqlite:///multirun/2024-01-01/12-00-00/ecopt.db --study train --out report``
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

#: name -> (help, add_arguments(parser), run(args) -> exit code). Other subcommands: add an entry.
SUBCOMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}


def _report_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--storage", required=True, help="Optuna storage URL, e.g. sqlite:///path/ecopt.db")
    parser.add_argument("--study", required=True, help="study name (the sweeper's study_name: the job name unless set)")
    parser.add_argument("--out", type=Path, default=None, help="output directory (default: ./ecopt-report-<study>)")
    parser.add_argument("--attach", action="store_true", help="also attach the files to the study (optuna.artifacts)")
    parser.add_argument(
        "--baseline", type=int, default=None, help="trial number to compare against (default: the enqueued baseline)"
    )
    parser.add_argument(
        "--chosen",
        type=int,
        default=None,
        help="trial number of the chosen model (default: the least J per sample among the front's trials at least as "
        "good as the baseline, robust ones first)",
    )


def _report(args: argparse.Namespace) -> int:
    from ecopt_lightning.sweeper._rebuild import ReportError, rebuild

    wanted = args.out or default_out("report", args.study)
    made = _new_folders(wanted)
    out = _out_dir(wanted, "report")
    if out is None:
        return 2
    try:
        report, paths = rebuild(
            args.storage, args.study, out, attach=args.attach, baseline=args.baseline, chosen=args.chosen
        )
    except ReportError as exc:
        _unmade(made)  # a mistyped --study or --storage leaves no empty folder behind
        print(f"ecopt report: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file of the folder that cannot be replaced, a full disk
        print(f"ecopt report: {_write_error(out, exc)}", file=sys.stderr)
        return 2
    from ecopt_lightning.sweeper._progress import not_comparable_lines
    from ecopt_lightning.sweeper._rung_report import energy_saved, saved_line

    hv = "n/a" if report.hypervolume is None else f"{report.hypervolume:.6g}"
    states = ", ".join(f"{k}: {v}" for k, v in report.states.items())
    print(
        f"{len(report.records)} trials{f' ({states})' if states else ''}, {len(report.front)} on the Pareto front "
        f"({sum(r.robust for r in report.front)} robust, {len(report.possibly)} more possibly on it), "
        f"hypervolume {hv}, "
        f"sweep energy {report.sweep_energy_text()}{f', {how}' if (how := report.estimated_text()) else ''}"
    )
    stopped = saved_line(energy_saved(report.records))  # as the sweep's closing lines say it
    lines = [*not_comparable_lines(report), *([] if stopped is None else [stopped])]
    for line in [*lines, *impact_lines(report.impact, report.tuning_text())]:
        print(line)
    for path in paths:
        print(path)
    return 0


def _out_dir(out: Path, command: str) -> Path | None:
    """``out`` made (a folder), or ``None`` after one line on stderr saying why it cannot be: checked before
    anything is measured or written. :func:`_unmade` removes what this made, should the command be refused."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".ecopt-write-check.", dir=out)  # an existing folder may be read-only
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        why = exc.strerror or exc
        print(f"ecopt {command}: --out {str(out)!r} is not allowed: {why}; give a folder", file=sys.stderr)
        return None
    return out


def _new_folders(out: Path) -> list[Path]:
    """``out`` and its parents that do not exist yet, deepest first: what :func:`_out_dir` will make."""
    return [p for p in [out, *out.parents] if not p.exists()]


def _unmade(folders: Sequence[Path]) -> None:
    """Remove the folders :func:`_out_dir` made for a command that was then refused, while they are empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # something was written there meanwhile, or it is gone: leave the rest
            return


def default_out(command: str, study: str) -> Path:
    """The folder ``--out`` defaults to, in the current directory: the study's name with every character that is not
    a letter, digit, ``.``, ``_`` or ``-`` as ``_``, so that a name holding ``/`` makes no nested folders.

    Example:
        >>> default_out("report", "digits/v2 é"), default_out("confirm", "../up")
        (PosixPath('ecopt-report-digits_v2_é'), PosixPath('ecopt-confirm-.._up'))
    """
    safe = re.sub(r"[^\w.-]", "_", study)
    return Path(f"ecopt-{command}-{safe}")


def _write_error(out: Path, exc: OSError) -> str:
    """One line for a file of ``out`` that could not be written (the artifact's name, not the temp file's)."""
    from ecopt_lightning.sweeper._atomic import write_failure

    return f"cannot write the files into --out {str(out)!r}: {write_failure(exc)}"


def impact_lines(impact: dict, tuning_text: str | None = None) -> list[str]:
    """The payback and proxy-check figures as short lines of text; ``tuning_text`` (the report's
    :meth:`~ecopt_lightning.sweeper._sweep_report.Report.tuning_text`) says what tuning cost, with its parts and
    ESTIMATED share."""
    tuning = impact["tuning_energy_J"]
    if tuning_text is None:
        tuning_text = "unknown (no trial reported it)" if tuning is None else f"{tuning:.6g} J"
    lines = [f"tuning energy {tuning_text}"]
    from ecopt_lightning.sweeper._impact import describe_saving, estimated_note, uncertainty_note

    lines += describe_saving(impact)
    lines.append(f"payback: {impact['payback_note']}")
    for name, row in impact["proxy_spearman"].items():
        rho = "n/a" if row["spearman"] is None else f"{row['spearman']:+.2f}"
        lines.append(
            f"Spearman(J per sample, {name}) = {rho} over {row['n_trials']} trials"
            f"{estimated_note(name, row)}{uncertainty_note(row)}"
        )
    return lines


SUBCOMMANDS["report"] = ("rebuild the Pareto artifacts of a sweep from its Optuna storage", _report_args, _report)


def _confirm_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--storage", required=True, help="Optuna storage URL, e.g. sqlite:///path/ecopt.db")
    parser.add_argument("--study", required=True, help="study name (the sweeper's study_name: the job name unless set)")
    parser.add_argument("--out", type=Path, default=None, help="output directory (default: ./ecopt-confirm-<study>)")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds over the candidates (default 4)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats per candidate and round (default 3)")
    parser.add_argument(
        "--clear", action="store_true", help="drop the study's confirmed values instead (measure nothing)"
    )


def _confirm(args: argparse.Namespace) -> int:
    from ecopt_lightning.sweeper._artifacts import write_all
    from ecopt_lightning.sweeper._confirm import ConfirmError, clear, confirm, confirm_lines

    if args.clear:
        try:
            had = clear(args.storage, args.study)
        except ConfirmError as exc:
            print(f"ecopt confirm: {exc}", file=sys.stderr)
            return 2
        print(
            f"cleared the confirmed values of {had} trial(s) of study {args.study!r}: reports use the sweep's own "
            "measurements again (ecopt report rebuilds the files)"
        )
        return 0
    wanted = args.out or default_out("confirm", args.study)
    made = _new_folders(wanted)
    out = _out_dir(wanted, "confirm")
    if out is None:
        return 2
    try:
        result = confirm(args.storage, args.study, rounds=args.rounds, repeats_per_round=args.repeats)
    except ConfirmError as exc:
        _unmade(made)  # nothing measured: no empty folder behind
        print(f"ecopt confirm: {exc}", file=sys.stderr)
        return 2
    failed: OSError | None = None
    try:  # the files first: a reader that leaves early (`| head`) must not cost them
        paths = write_all(result.after, out)
    except OSError as exc:
        paths, failed = [], exc
    for line in confirm_lines(result):
        print(line)
    if failed is not None:
        print(
            f"ecopt confirm: {_write_error(out, failed)}; the confirmed values are stored on the study: "
            "`ecopt report --out <folder>` writes the files",
            file=sys.stderr,
        )
        return 2
    for path in paths:
        print(path)
    return 0


SUBCOMMANDS["confirm"] = (
    "measure the front's models again in one process, interleaved, and rebuild the front from those values",
    _confirm_args,
    _confirm,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ecopt", description="ecopt-lightning command line")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_arguments, run) in SUBCOMMANDS.items():
        child = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(child)
        child.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ecopt`` (pyproject ``[project.scripts]``); returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except BrokenPipeError:  # `ecopt report ... | head`: the reader left; what was to be written is written
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nor does Python's exit flush fail
        return 128 + 13  # as a shell reports a process ended by SIGPIPE
    except KeyboardInterrupt:
        # confirm stores its values on the study only once every round is measured; the energy it spent, at once
        kept = (
            "; nothing confirmed: the study keeps its values (the energy measured so far counts in what tuning cost)"
            if args.command == "confirm"
            else ""
        )
        print(f"ecopt {args.command}: interrupted (Ctrl-C){kept}", file=sys.stderr)
        return 128 + 2  # as a shell reports Ctrl-C


if __name__ == "__main__":
    sys.exit(main())
