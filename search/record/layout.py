"""The files of a search directory (search.engine.tuner documents them), named once for every module that
reads them."""
from __future__ import annotations

CONFIG_FILE, TUNE_DIR, SCHEDULER_FILE = "config.yaml", "tune", "moasha.json"
STATE_FILE = "state.pt"  # a trial's checkpoint: weights, optimizer, RNG, its last result
