"""``hydra.main`` keywords that run quietly on Hydra 1.3 (warns unless ``version_base`` is given) and on Hydra 1.4
(deprecates ``version_base``: any explicit value, ``None`` included, warns)."""

import hydra

MAIN_KWARGS: dict = {} if tuple(int(p) for p in hydra.__version__.split(".")[:2]) >= (1, 4) else {"version_base": None}
