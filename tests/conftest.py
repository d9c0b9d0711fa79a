from __future__ import annotations

import optuna
import pytest
import torch


@pytest.fixture(autouse=True)
def _quiet_and_deterministic() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.manual_seed(0)
