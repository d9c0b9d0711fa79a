"""What a search leaves: the directory's files and storage, the results table, MLflow
tracking, reports, exported and registered models."""
