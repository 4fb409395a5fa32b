"""Stages `train_*` and `finetune_joint`: the training loops, their data loaders and the baselines."""
