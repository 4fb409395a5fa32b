"""The training stages: their loop, data loaders, the baselines, and what a stage reads and writes."""
