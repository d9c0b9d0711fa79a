"""Video data: the Arrow clip store, its PyTorch loader, the built-in benchmark and importers."""
