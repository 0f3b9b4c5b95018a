"""Not from upstream: a custom search space written for hydra-optuna-sweeper that returns what it suggested, which
that sweeper ignores (for test_a_custom_space_returning_no_dict_is_ignored_as_the_official_sweeper_does)."""

from omegaconf import DictConfig
from optuna.trial import Trial


def configure(cfg: DictConfig, trial: Trial) -> float:
    trial.suggest_float("+w", 0.0, 1.0)
    return trial.suggest_float("z", trial.params["x"] - cfg.max_z_difference_from_x, trial.params["x"])
