"""The search engine: its config and checks, Ray Tune with Optuna and MO-ASHA, the record of
ended trials, progress."""
