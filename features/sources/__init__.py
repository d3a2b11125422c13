"""Where raw data comes from: the synthetic world, public-dataset adapters and a shop's own files."""
