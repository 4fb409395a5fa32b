"""A training run's resume point: what a killed run needs to go on as if it had never stopped.

`fit` saves one after every epoch, atomically, beside the stage's checkpoint but outside DVC's
outs (`models/.<stage>-partial/resume.pt`, git-ignored as `.*-partial/`), and a new run of the
stage starts from it by default. It holds the epoch, the history so far, the best epoch's weights
and figures, the model's, optimiser's, scheduler's, AMP scaler's and loss's states (FR-Head keeps
EMA prototypes there), and every random state the next epoch draws from: Python's, NumPy's,
torch's (CPU and CUDA) and the train loader's own generators (its shuffle and worker base seed;
augmentation is a pure function of seed, epoch and sample: `crychic.training.data`). So on CPU a
resumed run ends bit for bit where an uninterrupted one does (tests/test_resume.py).

A point holds tensors and plain data only (NumPy's random state as a list), so it is read with
`torch.load(weights_only=True)`: one that holds anything else is not loaded (the run starts over).

The point carries a *token* of the stage's params and inputs (`crychic.core.partial_shards.input_token`):
a point saved by a run with other params or other data is ignored and replaced, never resumed from.
The stage removes it once its outputs are written.
"""

from __future__ import annotations

import pickle
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from crychic.core.atomic_write import atomic_path


@dataclass(frozen=True)
class ResumePoint:
    path: Path
    token: str

    @classmethod
    def beside(cls, checkpoint: str | Path, token: str, rank: int = 0) -> "ResumePoint":
        """The resume point of the stage that writes `checkpoint` (one per rank under torchrun)."""
        checkpoint = Path(checkpoint)
        name = "resume.pt" if rank == 0 else f"resume.rank{rank}.pt"
        return cls(checkpoint.parent / f".{checkpoint.stem}-partial" / name, token)

    def load(self) -> dict | None:
        """The saved state, or None: no point, one saved for other params or inputs, or one that holds
        more than tensors and plain data."""
        if not self.path.is_file():
            return None
        try:  # tensors and plain data only: a point is never a way to run code
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            print(f"{self.path}: holds more than tensors and plain data (an older format, or not ours); "
                  "not loaded, starting from epoch 1", flush=True)
            return None
        if state.get("token") != self.token:
            print(f"{self.path}: saved by a run with other params or inputs; starting from epoch 1", flush=True)
            return None
        return state

    def save(self, state: dict) -> None:
        with atomic_path(self.path) as tmp:
            torch.save({**state, "token": self.token}, tmp)

    def clear(self, every_rank: bool = False) -> None:
        """Remove this point (with `every_rank`, the other torchrun ranks' beside it too)."""
        for path in self.path.parent.glob("resume*.pt") if every_rank else [self.path]:
            path.unlink(missing_ok=True)
        try:
            self.path.parent.rmdir()  # only when empty: other ranks may still hold theirs
        except OSError:
            pass


def _generators(loader) -> dict[str, torch.Generator]:
    """The loader's own generators: the shuffle's (RandomSampler) and the worker base seed's."""
    found = {}
    if getattr(loader, "generator", None) is not None:
        found["loader"] = loader.generator
    if getattr(getattr(loader, "sampler", None), "generator", None) is not None:
        found["sampler"] = loader.sampler.generator
    return found


def random_states(loader) -> dict:
    """Every random state the next epoch draws from, as tensors and plain data (NumPy's key as a list)."""
    bit_generator, key, position, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    return {
        "python": random.getstate(),
        "numpy": {"bit_generator": bit_generator, "key": key.tolist(), "pos": int(position),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "loader": {name: gen.get_state() for name, gen in _generators(loader).items()},
    }


def restore_random_states(states: dict, loader) -> None:
    random.setstate(states["python"])
    saved = states["numpy"]
    np.random.set_state((saved["bit_generator"], np.array(saved["key"], dtype=np.uint32), saved["pos"],
                         saved["has_gauss"], saved["cached_gaussian"]))
    torch.set_rng_state(states["torch"])
    if states["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    generators = _generators(loader)
    for name, state in states["loader"].items():
        generators[name].set_state(state)
