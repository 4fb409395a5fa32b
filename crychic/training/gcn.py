"""Training, loading and inference of the ST-GCN skeleton baseline (`stages/train_gcn.py`).

Inputs are `crychic.keypoints.clips.KeypointClips` items (``keypoint 3 x T x V x M``); the model is a
registered GCN (`gcn.model`, e.g. ``stgcn_tiny``). It trains on split "train" (flip augmentation)
with AdamW and a per-step cosine schedule and validates each epoch on "val" when the clip plan has
it, else "test" (NTU). The checkpoint is ``{stage: "gcn", model_name, model_config, state_dict,
label_names}``, which `load_gcn` rebuilds from the registry.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from crychic.core.execution import execution_settings
from crychic.clips.plan import read_clip_plan
from crychic.keypoints.clips import KeypointClips
from crychic.core.manifest import validation_split
from crychic.evaluation.metrics import classification_report
from crychic.models import create_model
from crychic.training.loop import collect_logits, fit, resolve_device, save_checkpoint, seed_everything
from crychic.training.data import make_loader

# Below this size a CPU run uses one intra-op thread: on stgcn_tiny (0.1 M parameters) the ops are too
# small to split, and splitting them was many times slower with the cores busy elsewhere (README, Layout).
SINGLE_THREAD_PARAMS = 1_000_000


@contextlib.contextmanager
def _cpu_threads(model: nn.Module, device: torch.device):
    small = sum(p.numel() for p in model.parameters()) < SINGLE_THREAD_PARAMS
    if device.type != "cpu" or not small:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train_gcn(params: dict, *, keypoints_path: str | Path, clip_plan_path: str | Path, out_checkpoint: str | Path,
              label_names: list[str], on_epoch: Callable[[int, dict], None] | None = None) -> dict:
    """Train the GCN; returns {history, final (validation figures), model, val_split}."""
    gcn, train = params["gcn"], params["train"]
    device = resolve_device(train["device"])
    seed = int(params["seed"])
    seed_everything(seed)
    num_classes = len(label_names)

    val_split = validation_split(r["split"] for r in read_clip_plan(clip_plan_path))
    datasets = {split: KeypointClips(keypoints_path, clip_plan_path, split, augment=split == "train", seed=seed)
                for split in ("train", val_split)}
    for split, dataset in datasets.items():
        bad = sorted({int(r["label"]) for r in dataset.rows} - set(range(num_classes)))
        if bad:
            raise ValueError(f"{clip_plan_path}: split {split!r} has labels {bad} outside the {num_classes} label names")
    batch_size, workers = int(train["batch_size"]), execution_settings().train_workers
    train_loader = make_loader(datasets["train"], batch_size=batch_size, shuffle=True, workers=workers, seed=seed,
                               drop_last=len(datasets["train"]) > batch_size)
    val_loader = make_loader(datasets[val_split], batch_size=batch_size, shuffle=False, workers=workers, seed=seed)

    model_name = str(gcn["model"])
    model = create_model(model_name, num_classes=num_classes, num_persons=datasets["train"].max_persons).to(device)
    epochs = int(gcn["epochs"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(gcn["lr"]), weight_decay=float(gcn["weight_decay"]))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs * len(train_loader), 1))
    loss_fn = nn.CrossEntropyLoss()

    def loss_on_batch(batch: dict) -> tuple[torch.Tensor, dict]:
        loss = loss_fn(model(batch["keypoint"].to(device))["logits"], batch["label"].to(device))
        return loss, {"loss": loss.detach()}

    def validate() -> dict[str, dict]:
        model.eval()
        out = collect_logits(lambda batch: {"gcn": model(batch["keypoint"].to(device))["logits"]}, val_loader)
        return {"gcn": classification_report(out["gcn"], out["labels"], num_classes)}

    with _cpu_threads(model, device):
        fitted = fit(model, train_loader=train_loader, optimizer=optimizer, scheduler=scheduler, epochs=epochs,
                     loss_on_batch=loss_on_batch, validate=validate, name="gcn", on_epoch=on_epoch)
    save_checkpoint(out_checkpoint, model, stage="gcn", label_names=label_names, model_name=model_name)
    return {"history": fitted.history, "final": fitted.final, "model": model, "device": device, "is_main": True,
            "val_split": val_split, "best_epoch": fitted.best_epoch}


def load_gcn(path: str | Path) -> nn.Module:
    """The GCN of a `train_gcn` checkpoint, on CPU in eval mode (`.label_names` attached)."""
    payload = torch.load(path, map_location="cpu", weights_only=False)
    if payload.get("stage") != "gcn":
        raise ValueError(f"{path}: not a GCN checkpoint (stage {payload.get('stage')!r})")
    model = create_model(payload["model_name"], **payload["model_config"])
    model.load_state_dict(payload["state_dict"])
    model.label_names = payload["label_names"]
    return model.eval()


def predict_gcn(model: nn.Module, keypoints_path: str | Path, clip_plan_path: str | Path, split: str,
                batch_size: int = 32) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Logits (N x classes, CPU float32), labels (N) and sample ids of `split`, in sample-id order."""
    dataset = KeypointClips(keypoints_path, clip_plan_path, split, max_persons=model.config.num_persons)
    loader = make_loader(dataset, batch_size=batch_size, shuffle=False, workers=0, seed=0)
    device = next(model.parameters()).device
    model.eval()
    with _cpu_threads(model, device):
        out = collect_logits(lambda batch: {"logits": model(batch["keypoint"].to(device))["logits"]}, loader)
    return out["logits"], out["labels"], out["sample_ids"]
