"""Does tuning the batch size pay back its energy? J/token at each batch size, then the break-even.

Measures J/token at every ``break_even.batch_sizes`` inside one outer window (the energy tuning costs), picks
the lowest, and divides the tuning energy by the saving per token against ``break_even.baseline``: after that
many generated tokens, tuning has paid for itself. Writes ``break_even.json`` to Hydra's output folder.

Run:
    python examples/textgen/break_even.py                       # GPT-2 small shape, batch 1..64
    python examples/textgen/break_even.py model.preset=tiny new_tokens=8 'break_even.batch_sizes=[1,4]'
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `examples.textgen` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import hydra
from omegaconf import DictConfig, ListConfig

from ecopt_lightning.metrics import ESTIMATED_FRACTION, TOTAL_J, energy_note
from examples.textgen.common import open_monitor, pick_device, request
from examples.textgen.energy import break_even, measure_j_per_token
from examples.textgen.model import build_model


def run(cfg: DictConfig | Any, output_dir: str | Path | None = None) -> dict[str, Any]:
    """Measure every batch size and compute the break-even; return (and write, if ``output_dir``) the report."""
    raw = cfg.break_even.batch_sizes
    sizes: list[Any] = list(raw) if isinstance(raw, (list, tuple, ListConfig)) else [None]
    # int() read 2.5 as 2 and said "invalid literal for int()" of 'a', naming no key; a repeated size ran twice
    if not sizes or not all(isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in sizes):
        shown = sizes if isinstance(raw, (list, tuple, ListConfig)) else raw
        raise ValueError(
            f"break_even.batch_sizes={shown!r} is not allowed: give a list of integers >= 1, e.g. [1, 2, 4, 8]"
        )
    if len(set(sizes)) < len(sizes):
        raise ValueError(f"break_even.batch_sizes={sizes!r} is not allowed: each batch size once")
    if cfg.break_even.baseline not in sizes or isinstance(cfg.break_even.baseline, bool):
        raise ValueError(
            f"break_even.baseline={cfg.break_even.baseline!r} is not allowed: one of break_even.batch_sizes "
            f"({', '.join(map(str, sizes))}), the untuned batch size the saving is counted against"
        )
    output = str(cfg.break_even.output)
    if Path(output).name != output or output in (".", ".."):  # its folder was never made: lost after measuring
        raise ValueError(
            f"break_even.output={output!r} is not allowed: give a file name, written to Hydra's output folder "
            "(hydra.run.dir=... moves the folder)"
        )
    settings = request(cfg)  # refused before the model is built
    device = pick_device(str(cfg.device))
    model = build_model(str(cfg.model.preset), device)
    monitor = open_monitor(device, cfg.energy.cpu)
    results = []
    try:
        monitor.begin("tuning")
        for batch_size in sizes:
            results.append(
                measure_j_per_token(
                    model,
                    monitor,
                    batch_size=batch_size,
                    **settings,
                )
            )
        tuning = monitor.end("tuning")
    finally:
        monitor.close()
    verdict = break_even(results, tuning.energy_J, int(cfg.break_even.baseline))
    report = {
        "preset": str(cfg.model.preset),
        "n_params": model.n_params(),
        "device": str(device),
        "monitor": monitor.describe(),
        "results": [r.to_dict() for r in results],
        "tuning": tuning.to_dict(),
        "break_even": verdict.to_dict(),
    }
    print(format_report(report))
    if output_dir is not None:
        path = Path(output_dir) / output
        path.write_text(json.dumps(report, indent=2))
        print(f"written: {path}")
    return report


def format_report(report: dict[str, Any]) -> str:
    """A table of J/token per batch size and one line on the break-even."""
    lines = [f"textgen {report['preset']} ({report['n_params'] / 1e6:.1f} M parameters) on {report['device']}"]
    lines.append(f"{'batch':>6} {'J/token':>11} {'GPU J/token':>12} {'tokens/s':>10}  source")
    for r in report["results"]:
        gpu = f"{r['gpu_J_per_token']:.4g}" if r["gpu_J_per_token"] is not None else "-"
        lines.append(
            f"{r['batch_size']:>6} {r['J_per_token']:>11.4g} {gpu:>12} {r['tokens_per_s']:>10.1f}  {r['source']}"
        )
    b, tuning = report["break_even"], report["tuning"]
    # the tuning energy and the payback drawn from it say how much of it is estimated, as the rows' source does
    note = energy_note({ESTIMATED_FRACTION: tuning["estimated_J"] / tuning["energy_J"]} if tuning["energy_J"] else {})
    if b["tokens"] is None:
        lines.append(
            f"batch {b['baseline_batch_size']} is already the best: tuning ({b['tuning_J']:.4g} J{note}) never "
            "pays back"
        )
    else:
        lines.append(
            f"batch {b['chosen_batch_size']} saves {b['saving_J_per_token']:.4g} J/token against batch "
            f"{b['baseline_batch_size']}; tuning used {b['tuning_J']:.4g} J{note} and pays back after "
            f"{b['tokens']:,.0f} generated tokens"
        )
    return "\n".join(lines)


@hydra.main(version_base=None, config_path="conf", config_name="textgen")
def main(cfg: DictConfig) -> dict[str, float]:
    from hydra.core.hydra_config import HydraConfig

    report = run(cfg, HydraConfig.get().runtime.output_dir)
    b = report["break_even"]
    return {
        "textgen/chosen_batch_size": float(b["chosen_batch_size"]),
        "textgen/break_even_tokens": float("inf") if b["tokens"] is None else float(b["tokens"]),
        TOTAL_J: float(report["tuning"]["energy_J"]),
    }


if __name__ == "__main__":
    main()
