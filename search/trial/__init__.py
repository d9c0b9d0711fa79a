"""One trial: what it trains (`setup`, `trainable`: the Tune function), the training loop
(`loop`), the device (`device`), metrics (`metrics`), the training options (`options`)."""
