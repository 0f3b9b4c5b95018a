"""What a trial leaves behind so that ``ecopt confirm`` can measure its model again, later, beside the others.

The pattern (the main job follows it; any Lightning app can):

1. the ``LightningModule`` class is importable from a module file (not defined in the script run as
   ``__main__``), and its ``__init__`` calls ``self.save_hyperparameters()``, so that
   ``Class.load_from_checkpoint`` rebuilds it (Lightning's own checkpoint pattern);
2. ``EnergyCallback(inference_benchmark={"keep_for_confirm": True, ...})``: after the benchmark, the callback
   writes ``ecopt_confirm/`` next to ``energy_summary.json``: ``model.ckpt`` (the trained weights,
   ``trainer.save_checkpoint(weights_only=True)``), ``batches.pt`` (the benchmark's batches, one pass, on the
   CPU) and ``candidate.json`` (the class, its file, the benchmark settings, among them the torch threads it ran
   on, which ``ecopt confirm`` measures on again).

A trial that does not follow it is named by ``ecopt confirm`` with the one-line reason, e.g.
``trial 3: no ecopt_confirm/candidate.json under <job dir> (...)``.

Example:
    >>> why_not_reloadable(torch.nn.Linear(4, 2))  # its arguments are not saved with its weights
    'Linear.__init__ needs in_features, out_features: call self.save_hyperparameters() in it'
    >>> why_not_reloadable(torch.nn.ReLU()) is None  # every argument has a default: rebuilt as it is
    True
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

#: the folder, next to ``energy_summary.json``, that holds a trial's candidate files
CANDIDATE_DIR = "ecopt_confirm"
#: how deep below a job directory the candidate folder is looked for (Lightning puts it in its log dir)
MAX_DEPTH = 5


class CandidateError(Exception):
    """A trial's model cannot be measured again; the message is one line saying why and what to do."""


@dataclass
class Candidate:
    """A trained model, the batches its benchmark ran and the benchmark's settings, loaded for re-measuring."""

    folder: Path
    module: torch.nn.Module
    batches: list[Any]
    settings: dict[str, Any]


def _qualname(obj: Any) -> str | None:
    """``module:qualname`` of a top-level class or function that another process can import, else ``None``."""
    module, name = getattr(obj, "__module__", None), getattr(obj, "__qualname__", "")
    if not module or module == "__main__" or "<" in name:
        return None
    return f"{module}:{name}"


def why_not_reloadable(module: torch.nn.Module) -> str | None:
    """Why ``ecopt confirm`` could not rebuild ``module`` in another process (``None``: it can)."""
    cls = type(module)
    if _qualname(cls) is None:
        return (
            f"its class {cls.__qualname__} is defined in the script run as __main__: define it in an importable "
            "module (as examples/digits.py does)"
        )
    hparams = getattr(module, "hparams", {}) or {}
    required = [
        p.name
        for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in hparams
    ]
    if required:
        return f"{cls.__qualname__}.__init__ needs {', '.join(required)}: call self.save_hyperparameters() in it"
    return None


def save_candidate(
    trainer: Any, module: torch.nn.Module, dataloader: Any, settings: dict[str, Any], folder: Path
) -> str | None:
    """Write the candidate files into ``folder``; returns why nothing was written, or ``None``."""
    from lightning.fabric.utilities.apply_func import move_data_to_device

    reason = why_not_reloadable(module)
    forward = settings.get("forward_fn")
    if reason is None and forward is not None and _qualname(forward) is None:
        reason = "its forward_fn is not a top-level function of an importable module"
    if reason is not None:
        return reason
    folder.mkdir(parents=True, exist_ok=True)
    trainer.save_checkpoint(folder / "model.ckpt", weights_only=True)
    batches = [move_data_to_device(b, "cpu") for b in itertools.islice(dataloader, settings.get("max_batches"))]
    if trainer.is_global_zero:
        torch.save(batches, folder / "batches.pt")
        cls = type(module)
        info = {
            "class": _qualname(cls),
            "class_file": inspect.getsourcefile(cls),
            "forward_fn": None if forward is None else _qualname(forward),
            "warmup_batches": settings.get("warmup_batches", 2),
            "threads": settings.get("threads"),
        }
        (folder / "candidate.json").write_text(json.dumps(info, indent=2))
    return None


def find_candidate(job_dir: str | None) -> Path | None:
    """The candidate folder at most :data:`MAX_DEPTH` folders below ``job_dir`` (the newest when several)."""
    if not job_dir or not Path(job_dir).is_dir():
        return None
    root = Path(job_dir)
    found = [
        p.parent
        for p in root.rglob(f"{CANDIDATE_DIR}/candidate.json")
        if len(p.relative_to(root).parts) <= MAX_DEPTH + 2
    ]
    return max(found, key=lambda p: (p / "candidate.json").stat().st_mtime, default=None)


def _import(qualname: str, source_file: str | None) -> Any:
    module_name, _, name = qualname.partition(":")
    if source_file:
        folder = str(Path(source_file).resolve().parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
    obj: Any = importlib.import_module(module_name)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def load_candidate(folder: Path, device: torch.device | str = "cpu") -> Candidate:
    """Load the model (``Class.load_from_checkpoint``), its benchmark batches and settings; one-line
    :class:`CandidateError` when that fails."""
    try:
        info = json.loads((folder / "candidate.json").read_text())
        cls = _import(info["class"], info.get("class_file"))
        module = cls.load_from_checkpoint(folder / "model.ckpt", map_location=device)
        batches = torch.load(folder / "batches.pt", weights_only=True)
        forward = _import(info["forward_fn"], None) if info.get("forward_fn") else None
    except Exception as exc:
        text = " ".join(str(exc).split())[:200]
        raise CandidateError(f"cannot load the model in {folder}: {type(exc).__name__}: {text}") from None
    return Candidate(folder, module, batches, {**info, "forward_fn": forward})
