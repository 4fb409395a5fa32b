"""Training, loading and inference of the single-network baselines, one DVC stage each.

Keypoint networks (``gcn``: ST-GCN-style, ``msg3d``: MS-G3D-style, ``sta_lstm``: STA-LSTM) read
`crychic.keypoints.clips.KeypointClips` items (``keypoint 3 x T x V x M``); the RGB network
(``i3d``: a ResNet inflated to 3D) reads the Arrow RGB clips (``rgb 3 x T x H x W``) that the
student reads. Each stage's params section (`gcn.*`, `msg3d.*`, ...) names a registered model and
its schedule: AdamW (for i3d, its section's `optimizer`) with a per-step cosine decay, flip
augmentation, the kept epoch the best on "val" (every source has one: `validation_split`). The
checkpoint is ``{stage, model_name, model_config, state_dict, label_names}``, which `load_baseline`
rebuilds from the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from crychic.clips.plan import read_clip_plan
from crychic.core.execution import execution_settings, loader_transport, loader_workers
from crychic.core.manifest import validation_split
from crychic.core.classification import classification_report
from crychic.keypoints.clips import KeypointClips
from crychic.models import create_model
from crychic.rgb.shards import RgbClips
from crychic.training.data import PoseRgbDataset, make_loader, model_input
from crychic.core.devices import resolve_device, seed_everything
from crychic.models.checkpoints import read_checkpoint, save_checkpoint
from crychic.models.inference import collect_logits
from crychic.training.loop import fit, make_optimizer, warmup_cosine_schedule
from crychic.training.resume import ResumePoint
from crychic.training.stage import BASELINE_INPUTS

def _dataset(input_name: str, split: str, *, keypoints_path, clip_plan_path, rgb_dir, seed: int,
             transport: str = "float32", max_persons: int | None = None):
    augment = split == "train"
    if input_name == "keypoint":
        persons = {} if max_persons is None else {"max_persons": max_persons}
        return KeypointClips(keypoints_path, clip_plan_path, split, augment=augment, seed=seed, **persons)
    return PoseRgbDataset(None, rgb_dir, split=split, augment=augment, seed=seed, modalities=("rgb",),
                          transport=transport)


def _labels(dataset) -> set[int]:
    if isinstance(dataset, KeypointClips):
        return {int(r["label"]) for r in dataset.rows}
    return {int(label) for split, label in dataset.rgb_clips.metadata().values() if split == dataset.split}


def _train_and_val(input_name: str, paths: dict, num_classes: int) -> tuple[dict, str]:
    """({split: dataset} for train and the validation split, the validation split's name), every label checked."""
    if input_name == "keypoint":
        val_split = validation_split(r["split"] for r in read_clip_plan(paths["clip_plan_path"]))
    else:
        val_split = validation_split(split for split, _ in RgbClips(paths["rgb_dir"]).metadata().values())
    datasets = {split: _dataset(input_name, split, **paths) for split in ("train", val_split)}
    for split, dataset in datasets.items():
        bad = sorted(_labels(dataset) - set(range(num_classes)))
        if bad:
            source = paths["clip_plan_path"] if input_name == "keypoint" else paths["rgb_dir"]
            raise ValueError(f"{source}: split {split!r} has labels {bad} outside the {num_classes} label names")
    return datasets, val_split


def train_baseline(stage: str, params: dict, *, keypoints_path: str | Path | None,
                   clip_plan_path: str | Path | None, rgb_dir: str | Path | None, out_checkpoint: str | Path, label_names: list[str],
                   on_epoch: Callable[[int, dict], None] | None = None, max_steps: int | None = None,
                   resume_token: str | None = None) -> dict:
    """Train the `stage` baseline; returns {history, final (validation figures), model, val_split, ...}.
    `max_steps`: batches per epoch, for smoke runs; `resume_token`: keep and use a resume point
    beside the checkpoint (both: `crychic.training.loop.fit`)."""
    if stage not in BASELINE_INPUTS:
        raise ValueError(f"unknown baseline {stage!r}; known: {sorted(BASELINE_INPUTS)}")
    input_name, section, train = BASELINE_INPUTS[stage], params[stage], params["train"]
    device = resolve_device(train["device"], train=True)
    seed = int(params["seed"])
    seed_everything(seed)
    num_classes = len(label_names)

    execution = execution_settings()
    paths = dict(keypoints_path=keypoints_path, clip_plan_path=clip_plan_path, rgb_dir=rgb_dir, seed=seed,
                 transport=loader_transport(execution.loader_transport, device.type))
    datasets, val_split = _train_and_val(input_name, paths, num_classes)
    model_name = str(section["model"])
    extra = {"num_persons": datasets["train"].max_persons} if input_name == "keypoint" else {}
    model = create_model(model_name, num_classes=num_classes, **extra).to(device)

    batch_size = int(train["batch_size"])
    workers, pin = loader_workers(execution.train_workers, device.type), device.type == "cuda"
    train_loader = make_loader(datasets["train"], batch_size=batch_size, shuffle=True, workers=workers, seed=seed,
                               drop_last=len(datasets["train"]) > batch_size, pin_memory=pin)
    val_loader = make_loader(datasets[val_split], batch_size=batch_size, shuffle=False, workers=workers, seed=seed,
                             pin_memory=pin)
    epochs = int(section["epochs"])
    # The keypoint baselines train with AdamW; the RGB one (i3d) by its own section's optimizer, as its peers do.
    optimizer = make_optimizer(model.parameters(), {"optimizer": "adamw", **section})
    steps = len(train_loader)  # batches an epoch
    scheduler = warmup_cosine_schedule(optimizer, epochs * steps, int(section.get("warmup_epochs", 0)) * steps)
    loss_fn = nn.CrossEntropyLoss()

    def loss_on_batch(batch: dict) -> tuple[torch.Tensor, dict]:
        loss = loss_fn(model(model_input(input_name, batch[input_name], device))["logits"], batch["label"].to(device))
        return loss, {"loss": loss.detach()}

    def validate() -> dict[str, dict]:
        model.eval()
        out = collect_logits(lambda batch: {stage: model(model_input(input_name, batch[input_name], device))["logits"]},
                             val_loader)
        return {stage: classification_report(out[stage], out["labels"], num_classes)}

    fitted = fit(model, train_loader=train_loader, optimizer=optimizer, scheduler=scheduler, epochs=epochs,
                 loss_on_batch=loss_on_batch, validate=validate, name=stage, on_epoch=on_epoch, max_steps=max_steps,
                 resume=None if resume_token is None else ResumePoint.beside(out_checkpoint, resume_token))
    save_checkpoint(out_checkpoint, model, stage=stage, label_names=label_names, model_name=model_name)
    return {"history": fitted.history, "final": fitted.final, "model": model, "device": device, "is_main": True,
            "val_split": val_split, "best_epoch": fitted.best_epoch}


def train_baseline_from_args(stage: str, params: dict, args, label_names: list[str],
                             on_epoch: Callable[[int, dict], None] | None = None,
                             resume_token: str | None = None) -> dict:
    """`train_baseline` with the paths of a stage's command line (`crychic.training.stage.build_parser`)."""
    return train_baseline(stage, params, keypoints_path=args.keypoints, clip_plan_path=args.clips, rgb_dir=args.rgb,
                          out_checkpoint=args.out, label_names=label_names, on_epoch=on_epoch,
                          resume_token=resume_token)


def load_baseline(path: str | Path) -> nn.Module:
    """The network of a baseline stage's checkpoint, on CPU in eval mode (`.stage`, `.label_names` attached)."""
    payload = read_checkpoint(path)
    if payload.get("stage") not in BASELINE_INPUTS:
        raise ValueError(f"{path}: not a baseline checkpoint (stage {payload.get('stage')!r}; "
                         f"expected one of {sorted(BASELINE_INPUTS)})")
    model = create_model(payload["model_name"], **payload["model_config"])
    model.load_state_dict(payload["state_dict"])
    model.stage, model.label_names = payload["stage"], payload["label_names"]
    return model.eval()


def predict_baseline(model: nn.Module, *, keypoints_path: str | Path, clip_plan_path: str | Path,
                     rgb_dir: str | Path, split: str, batch_size: int = 32
                     ) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Logits (N x classes, CPU float32), labels (N) and sample ids of `split`."""
    input_name = BASELINE_INPUTS[model.stage]
    dataset = _dataset(input_name, split, keypoints_path=keypoints_path, clip_plan_path=clip_plan_path,
                       rgb_dir=rgb_dir, seed=0,
                       max_persons=model.config.num_persons if input_name == "keypoint" else None)
    loader = make_loader(dataset, batch_size=batch_size, shuffle=False, workers=0, seed=0)
    device = next(model.parameters()).device
    model.eval()
    out = collect_logits(lambda batch: {"logits": model(batch[input_name].to(device))["logits"]}, loader)
    return out["logits"], out["labels"], out["sample_ids"]
