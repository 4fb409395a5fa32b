"""Training, loading and inference of the ST-GCN skeleton baseline (`stages/train_gcn.py`).

Inputs are `crychic.keypoints.clips.KeypointClips` items (``keypoint 3 x T x V x M``); the model is a
registered GCN (`gcn.model`, e.g. ``stgcn_tiny``). It trains on split "train" (flip augmentation)
with AdamW and a per-step cosine schedule and validates each epoch on "val" when the clip plan has
it, else "test" (NTU). The checkpoint is ``{stage: "gcn", model_name, model_config, state_dict,
label_names}``, which `load_gcn` rebuilds from the registry.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from crychic.core.atomic_write import atomic_path
from crychic.core.execution import execution_settings
from crychic.clips.plan import read_clip_plan
from crychic.keypoints.clips import KeypointClips
from crychic.core.manifest import validation_split
from crychic.evaluation.metrics import classification_report
from crychic.models import create_model
from crychic.training.loop import resolve_device, seed_everything
from crychic.training.data import make_loader

# Below this size a CPU run uses one intra-op thread: on stgcn_tiny (0.1 M parameters) the ops are too
# small to split, and with the cores busy elsewhere 2 threads took 17 s an epoch against 0.7 s for 1.
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


@torch.no_grad()
def _logits(model: nn.Module, loader, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    model.eval()
    logits, labels, ids = [], [], []
    for batch in loader:
        logits.append(model(batch["keypoint"].to(device))["logits"].float().cpu())
        labels.append(batch["label"])
        ids.extend(batch["sample_id"])
    return torch.cat(logits), torch.cat(labels), ids


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

    history, final, best = [], {}, None
    with _cpu_threads(model, device):
        for epoch in range(epochs):
            started = time.perf_counter()
            datasets["train"].set_epoch(epoch)
            model.train()
            total, batches = 0.0, 0
            for batch in train_loader:
                loss = loss_fn(model(batch["keypoint"].to(device))["logits"], batch["label"].to(device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                total, batches = total + float(loss.detach()), batches + 1
            logits, labels, _ = _logits(model, val_loader, device)
            final = classification_report(logits, labels, num_classes)
            row = {"epoch": epoch, "train_loss": total / max(batches, 1), "val_top1": final["top1"],
                   "val_top5": final["top5"], "val_mean_class_accuracy": final["mean_class_accuracy"],
                   "seconds": round(time.perf_counter() - started, 2), "lr": optimizer.param_groups[0]["lr"]}
            history.append(row)
            if best is None or row["val_top1"] >= best["val_top1"]:  # as crychic.training.loop: the kept epoch
                best = {"epoch": epoch, "val_top1": row["val_top1"], "final": final,
                        "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
            print(f"[gcn] epoch {epoch + 1}/{epochs}  loss {row['train_loss']:.4f}  val top1 ({val_split}) "
                  f"{row['val_top1']:.3f}  {row['seconds']:.1f} s", flush=True)
            if on_epoch is not None:
                on_epoch(epoch, row)

    if best is not None:
        model.load_state_dict(best["state"])
        final = best["final"]
    payload = {"stage": "gcn", "model_name": model_name, "model_config": dataclasses.asdict(model.config),
               "state_dict": {k: v.cpu() for k, v in model.state_dict().items()}, "label_names": list(label_names)}
    with atomic_path(out_checkpoint) as tmp:
        torch.save(payload, tmp)
    return {"history": history, "final": final, "model": model, "device": device, "val_split": val_split,
            "best_epoch": None if best is None else best["epoch"]}


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
    with _cpu_threads(model, device):
        return _logits(model, loader, device)
