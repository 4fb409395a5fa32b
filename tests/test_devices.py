"""crychic.core.devices: the device a stage trains on, and what choosing CUDA switches on."""

import torch

from crychic.core.devices import resolve_device


def test_choosing_cuda_lets_cudnn_time_its_algorithms(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    assert resolve_device("auto").type == "cuda"
    assert torch.backends.cudnn.benchmark is True


def test_the_cpu_path_leaves_cudnn_as_it_was(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    assert resolve_device("auto").type == "cpu"
    assert torch.backends.cudnn.benchmark is False
