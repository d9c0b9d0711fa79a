"""vidnas.search: running a search (data, one trial, Ray Tune + Optuna, MLflow, reports, CLI)."""
