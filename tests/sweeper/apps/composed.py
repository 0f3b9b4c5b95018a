"""A task that saves its resolved config (``resolved.yaml`` in its job dir) and returns toy metrics, so that two
sweeps can be compared job by job (test_compose.py).

Example:
    ``python tests/sweeper/apps/composed.py -m hydra/sweeper=ecopt 'width=choice(8,16)' 'arch=choice(small,large)'``
"""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra_compat import MAIN_KWARGS
from omegaconf import DictConfig, OmegaConf


@hydra.main(**MAIN_KWARGS, config_path="conf", config_name="composed")
def main(cfg: DictConfig) -> dict[str, float]:
    Path(HydraConfig.get().runtime.output_dir, "resolved.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    width, lr = float(cfg.width), float(cfg.lr)
    return {"val_acc": 1.0 - 1.0 / width - lr, "energy/inference_per_sample_J": 1e-4 * width * cfg.arch.hidden}


if __name__ == "__main__":
    main()
