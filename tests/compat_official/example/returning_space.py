"""Not from upstream: custom search spaces written for hydra-optuna-sweeper, which it takes and ours did not: one
that returns what it suggested (that sweeper ignores it), one a class's method (located as Hydra locates a
``_target_``)."""

from omegaconf import DictConfig
from optuna.trial import Trial


def configure(cfg: DictConfig, trial: Trial) -> float:
    trial.suggest_float("+w", 0.0, 1.0)
    return trial.suggest_float("z", trial.params["x"] - cfg.max_z_difference_from_x, trial.params["x"])


class Spaces:
    @staticmethod
    def configure(cfg: DictConfig, trial: Trial) -> None:
        trial.suggest_float("z", trial.params["x"] - cfg.max_z_difference_from_x, trial.params["x"])
        trial.suggest_float("+w", 0.0, 1.0)
