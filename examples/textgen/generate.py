"""Energy per generated token at one batch size: a Hydra app whose returned metrics ECOpt can tune.

Run:
    python examples/textgen/generate.py batch_size=8 model.preset=gpt2
    python examples/textgen/generate.py -m hydra/sweeper=ecopt +search=batch_size

Returns ``textgen/J_per_token`` (J, all measured domains), ``textgen/gpu_J_per_token`` (J, GPU only, where a
GPU is measured), ``textgen/tokens_per_s``, ``energy/total_J`` (J, the whole measurement, warm-up included) and
``energy/estimated_fraction`` (the share of it that is estimated, not measured); writes ``energy_summary.json``
(the total and each domain's source) into its Hydra output folder, where a sweep reads it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `examples.textgen` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import hydra
from omegaconf import DictConfig

from ecopt_lightning.energy import Measurement
from ecopt_lightning.energy_summary import write_json
from ecopt_lightning.metrics import ESTIMATED_FRACTION, SUMMARY_FILE, TOTAL_J
from examples.textgen.common import count, open_monitor, pick_device, request
from examples.textgen.energy import TokenEnergy, measure_j_per_token
from examples.textgen.model import build_model


def estimated_fraction(total: Measurement) -> float | None:
    """The share of ``total``'s energy that is estimated, not measured (0 to 1); ``None`` when it is 0 J.

    Example:
        >>> sources = {"cpu:0": "estimate", "gpu:0": "nvml_counter"}
        >>> estimated_fraction(Measurement("run", 1.0, {"cpu:0": 1.0, "gpu:0": 3.0}, sources))
        0.25
        >>> estimated_fraction(Measurement("run", 1.0, {}, {})) is None
        True
    """
    return total.estimated_J / total.energy_J if total.energy_J > 0 else None


def metrics_of(result: TokenEnergy, total: Measurement) -> dict[str, float]:
    """The flat metrics dict a sweeper reads (floats only); ``energy/estimated_fraction`` (0 to 1) says how much
    of ``energy/total_J`` is estimated, as EnergyCallback's metrics do."""
    out = {
        "textgen/J_per_token": result.J_per_token,
        "textgen/tokens_per_s": result.tokens_per_s,
        "textgen/batch_size": float(result.batch_size),
        TOTAL_J: total.energy_J,
    }
    fraction = estimated_fraction(total)
    if fraction is not None:
        out[ESTIMATED_FRACTION] = fraction
    if result.gpu_J_per_token is not None:
        out["textgen/gpu_J_per_token"] = result.gpu_J_per_token
    return out


def summary_of(total: Measurement) -> dict[str, Any]:
    """The run's ``energy_summary.json`` (J), in the keys of EnergyCallback's that a sweeper reads: its total and
    the source of each domain, so that a sweep's front and reports say where each trial's energy came from."""
    return {
        "status": "finished textgen",
        "total_J": total.energy_J,
        "estimated_fraction": estimated_fraction(total),
        "sources": dict(total.sources),
        "source": total.source,
    }


def run(cfg: DictConfig | Any, output_dir: str | Path | None = None) -> tuple[dict[str, float], TokenEnergy]:
    """Build the model, measure J/token at ``cfg.batch_size``; return the metrics and the full result, and write
    ``energy_summary.json`` into ``output_dir`` when given."""
    batch_size, settings = count(cfg, "batch_size", 1), request(cfg)  # refused before the model is built
    device = pick_device(str(cfg.device))
    model = build_model(str(cfg.model.preset), device)
    monitor = open_monitor(device, cfg.energy.cpu)
    try:
        monitor.begin("textgen-total")
        result = measure_j_per_token(
            model,
            monitor,
            batch_size=batch_size,
            **settings,
        )
        total = monitor.end("textgen-total")
    finally:
        monitor.close()
    if output_dir is not None:
        write_json(str(Path(output_dir) / SUMMARY_FILE), summary_of(total))
    print(
        f"textgen {cfg.model.preset} on {device}, batch {result.batch_size}: {result.J_per_token:.4g} J/token "
        f"({result.source}), {result.tokens_per_s:.1f} tokens/s"
    )
    return metrics_of(result, total), result


@hydra.main(version_base=None, config_path="conf", config_name="textgen")
def main(cfg: DictConfig) -> dict[str, float]:
    from hydra.core.hydra_config import HydraConfig

    return run(cfg, HydraConfig.get().runtime.output_dir)[0]


if __name__ == "__main__":
    main()
