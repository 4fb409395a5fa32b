"""crychic.core.devices: the device a stage trains on, and what choosing CUDA switches on."""

import torch

from crychic.core.devices import resolve_device


def test_training_on_cuda_lets_cudnn_time_its_algorithms(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    assert resolve_device("auto", train=True).type == "cuda"
    assert torch.backends.cudnn.benchmark is True


def test_evaluating_on_cuda_keeps_the_algorithms_fixed(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    assert resolve_device("cuda").type == "cuda"
    assert torch.backends.cudnn.benchmark is False


def test_the_cpu_path_leaves_cudnn_as_it_was(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    assert resolve_device("auto", train=True).type == "cpu"
    assert torch.backends.cudnn.benchmark is False
