"""Models by name (timm-like), so configs, DVC params and MLflow runs say ``"posec3d_tiny"``, not code.

A registered builder takes keyword overrides of its preset's config dataclass (``num_classes``,
``base_channels``, ...) and returns the module; every built module keeps its config as ``.config``.
Builders register when their module is imported, which ``crychic.models`` does for all of them.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str):
    """Decorator: make ``fn(**overrides) -> nn.Module`` buildable as ``create_model(name)``."""

    def decorator(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _BUILDERS:
            raise ValueError(f"model {name!r} is registered twice")
        _BUILDERS[name] = fn
        return fn

    return decorator


def create_model(name: str, **overrides) -> nn.Module:
    """Build a registered model; ``overrides`` replace fields of its preset config."""
    if name not in _BUILDERS:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(list_models())}")
    return _BUILDERS[name](**overrides)


def list_models() -> list[str]:
    return sorted(_BUILDERS)
