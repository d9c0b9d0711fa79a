"""vidnas.cluster: running searches on a Ray cluster with a shared MLflow server."""
