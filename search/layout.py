"""The files of a search directory (search.tuner documents them), named once for every module that
reads them."""
from __future__ import annotations

CONFIG_FILE, TUNE_DIR, SCHEDULER_FILE = "config.yaml", "tune", "moasha.json"
