"""CRYCHIC's training stages (`STAGES`: its three, the text variant of stage 3, the rgb_only baseline), one loop.

1. `teacher`: the heatmap teacher alone (PoseConv3D), inputs `heatmap N x K x T x H x W`.
2. `student`: the teacher frozen; the RGB student (`rgb N x 3 x T x S x S`) learns with the
   teacher's attention weighting its features, an attention-transfer loss and a cross-modal
   contrastive loss. Validated pose-free (RGB only), the way it is deployed.
3. `joint`: both trainable (the teacher, and the pre-trained student, at lower learning rates,
   after a linear warm-up: a fresh optimiser at full rate undid stage 2) with a fusion head over
   both embeddings; validated fused, and pose-free for the student. With
   `train.joint.from_scratch` it starts from random weights instead of stage 2 (the single-stage
   ablation).
(`text`, stage 3 again with the text anchor, is the crychic_text row.)

And one baseline: `rgb_only`, the student network trained alone on RGB from scratch: no teacher
anywhere and no attention weighting (that weighting exists to carry the teacher's maps; without a
teacher it only weights the features by the network's own untrained attention, which crippled an
earlier baseline), for as many epochs as the CRYCHIC student gets in stages 2 + 3, with the
student stage's learning rate.

Checkpoint: every stage keeps the weights of the epoch with the best validation top-1 of its
primary head (the last such epoch on ties), a choice made on val for every model alike; stage 3
also keeps, for the pose-free student row, the epoch with the best pose-free val top-1 of the
student (`head_states` in its checkpoint), so that each row is kept by its own head's score.

Devices: CUDA when present (with mixed precision if `train.amp`), CPU otherwise; under `torchrun`, DDP
(`crychic.core.devices`). The model and its checkpoints: `crychic.models.checkpoints`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from crychic.core.execution import execution_settings, loader_transport, loader_workers
from crychic.core.stage_registry import CRYCHIC_TRAINING
from crychic.losses import CrychicLoss
from crychic.core.manifest import validation_split
from crychic.core.classification import classification_report
from crychic.core.devices import all_reduce_mean, init_distributed, resolve_device, seed_everything
from crychic.models import CrychicModel
from crychic.models.checkpoints import build_model, load_checkpoint, save_checkpoint
from crychic.models.inference import collect_logits
from crychic.training.data import PoseRgbDataset, clips_are_framed, make_loader, model_input
from crychic.training.resume import ResumePoint, random_states, restore_random_states

# train.<key> of each stage (crychic.core.stage_registry); "text" is stage 3 again with the text anchor
# (the crychic_text row), rgb_only trains by the student's section.
SETTINGS = {name: stage.settings for name, stage in CRYCHIC_TRAINING.items()}
STAGES = tuple(SETTINGS)
# The history columns that time an epoch: not reproducible, so MLflow has them and the DVC plots do not.
TIMING_KEYS = ("seconds", "loader_wait_seconds")


# ---------------------------------------------------------------- one stage

@dataclass(frozen=True)
class StageSpec:
    inputs: tuple[str, ...]                      # which modalities the model sees in training
    classify: tuple[str, ...]                    # which logits the cross-entropy covers
    validate: dict[str, tuple[tuple[str, ...], str]]  # name -> (inputs, logits key); the first is primary
    guidance_terms: bool                         # attention transfer / contrastive / FR-Head apply


SPECS = {
    "teacher": StageSpec(("heatmap",), ("teacher",), {"teacher": (("heatmap",), "teacher_logits")}, False),
    # Validation in eval mode: with both inputs the student weights its features by its own attention
    # (`guide_at_inference` is off until evaluate chooses it on val), so one forward of both inputs
    # gives the pose-free student's and the teacher's logits too, equal to their single-input
    # forwards (tests/test_models.py checks it), and `evaluate` runs one forward per input set.
    "student": StageSpec(("heatmap", "rgb"), ("student",), {"student_posefree": (("rgb",), "student_logits")}, True),
    "joint": StageSpec(("heatmap", "rgb"), ("fused", "teacher", "student"), {
        "fused": (("heatmap", "rgb"), "fused_logits"),
        "student_posefree": (("heatmap", "rgb"), "student_logits"),
        "teacher": (("heatmap", "rgb"), "teacher_logits")}, True),
    "rgb_only": StageSpec(("rgb",), ("student",), {"student_posefree": (("rgb",), "student_logits")}, False),
}
SPECS["text"] = SPECS["joint"]  # stage 3 again, with the text anchor added to its loss


def _forward(model: nn.Module, batch: dict, inputs: tuple[str, ...], device: torch.device) -> dict:
    """The model on the batch's `inputs`; with both modalities of framed clips also where the
    heatmap's square lies in the clip (`heatmap_in_rgb`), so the teacher's maps are carried there."""
    names = [*inputs, *(["heatmap_in_rgb"] if {"heatmap", "rgb"} <= set(inputs) and "heatmap_in_rgb" in batch else [])]
    return model(**{name: model_input(name, batch[name], device) for name in names})


def validate(model: nn.Module, loader, spec: StageSpec, num_classes: int, device: torch.device,
             amp: bool) -> dict[str, dict]:
    """Figures for every validation head; logits are gathered whole (a validation split fits)."""
    model.eval()

    def heads(batch: dict) -> dict[str, torch.Tensor]:
        outputs: dict[tuple[str, ...], dict] = {}  # one forward per distinct input set
        with _autocast(device, amp):
            for inputs, _ in spec.validate.values():
                if inputs not in outputs:
                    outputs[inputs] = _forward(model, batch, inputs, device)
        return {name: outputs[inputs][key] for name, (inputs, key) in spec.validate.items()}

    out = collect_logits(heads, loader)
    return {name: {**classification_report(out[name], out["labels"], num_classes), "logits": out[name],
                   "labels": out["labels"]} for name in spec.validate}


@dataclass
class Fitted:
    history: list[dict]  # one row per epoch: train_<loss term>, val_<head>_<figure>, val_top1, seconds, lr
    final: dict[str, dict]  # the kept epoch's validation figures per head
    best_epoch: int | None
    # per head of `also_keep`: the epoch kept by that head's own val top-1, and its weights
    also_kept: dict[str, dict] = dataclasses.field(default_factory=dict)


def fit(model: nn.Module, *, train_loader, optimizer, scheduler, epochs: int,
        loss_on_batch: Callable[[dict], tuple[torch.Tensor, dict]], validate: Callable[[], dict[str, dict]],
        name: str, scaler=None, sampler=None, reduce: Callable[[float], float] = float, is_main: bool = True,
        on_epoch: Callable[[int, dict], None] | None = None, train_module: nn.Module | None = None,
        max_steps: int | None = None, resume: ResumePoint | None = None, loss_state: nn.Module | None = None,
        also_keep: tuple[str, ...] = ()) -> Fitted:
    """The one training loop (CRYCHIC's stages and the graph baseline): epochs of `loss_on_batch`
    steps, validation after each, and the weights of the epoch with the best validation top-1 of
    the first head restored at the end (the later epoch on ties: a choice made on val, for every
    model alike). `train_module` is what steps (a DDP wrapper), `model` what is validated and kept.
    `max_steps` ends each epoch after that many batches (a smoke run: `benchmarks/gpu_check.py`).
    Each history row has `seconds` and `loader_wait_seconds`, the part of it spent waiting for
    the DataLoader's next batch (a GPU fed too slowly shows it here).
    `resume`: where to save a resume point after every epoch, and to start from one saved by an
    earlier, killed run (`crychic.training.resume`); `loss_state`, a loss with state of its own
    (FR-Head's prototypes) to save with it. A resumed run replays the saved history to `on_epoch`,
    so that its MLflow run shows the whole curve. `also_keep`: other validation heads whose own best
    epoch (same tie rule) is kept too, weights and all (`Fitted.also_kept`)."""
    scaler = scaler or torch.amp.GradScaler("cuda", enabled=False)
    train_module = train_module or model
    history, final, best, start, kept = [], {}, None, 0, {}
    saved = resume.load() if resume is not None else None
    if saved is not None:
        history, best, start, kept = _restore(saved, model, optimizer, scheduler, scaler, loss_state, train_loader)
        if is_main:
            print(f"[{name}] resumed after epoch {start} of {epochs} from {resume.path}", flush=True)
            for row in history if on_epoch is not None else ():
                on_epoch(row["epoch"], row)
    for epoch in range(start, epochs):
        started = time.perf_counter()
        train_loader.dataset.set_epoch(epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        train_module.train()
        sums, waited = _train_epoch(train_loader, loss_on_batch, optimizer, scheduler, scaler, max_steps)
        final = validate()
        row = _epoch_row(epoch, sums, final, reduce, started, waited, optimizer)
        history.append(row)
        best = _kept_epochs(model, epoch, row, final, best, kept, also_keep)
        if resume is not None:  # before the epoch's line: once it shows, the epoch is safe
            resume.save({"epoch": epoch, "history": history, "best": best, "model": model.state_dict(),
                         "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                         "scaler": scaler.state_dict(), "loss": None if loss_state is None else loss_state.state_dict(),
                         "also_kept": kept, "random": random_states(train_loader)})
        if is_main:
            loss = row.get("train_total", row.get("train_loss", float("nan")))
            print(f"[{name}] epoch {epoch + 1}/{epochs}  loss {loss:.4f}  val top1 ({next(iter(final))}) "
                  f"{row['val_top1']:.3f}  "
                  f"{row['seconds']:.1f} s", flush=True)
            if on_epoch is not None:
                on_epoch(epoch, row)
    if best is not None:
        model.load_state_dict(best["state"])
        final = best["final"]
    return Fitted(history=history, final=final, best_epoch=None if best is None else best["epoch"], also_kept=kept)


def _epoch_row(epoch: int, sums: dict, final: dict[str, dict], reduce, started: float, waited: float,
               optimizer) -> dict:
    """One history row: the epoch's training losses, time and learning rate, every head's val figures,
    and `val_top1`, the first head's (the one that keeps the epoch)."""
    row = {"epoch": epoch, **{k: reduce(v) for k, v in sums.items()},
           "seconds": round(time.perf_counter() - started, 2), "loader_wait_seconds": round(waited, 3),
           "lr": optimizer.param_groups[0]["lr"]}
    for head, figures in final.items():
        for key in ("top1", "top5", "mean_class_accuracy"):
            row[f"val_{head}_{key}"] = figures[key]
    row["val_top1"] = final[next(iter(final))]["top1"]
    return row


def _kept_epochs(model: nn.Module, epoch: int, row: dict, final: dict[str, dict], best: dict | None, kept: dict,
                 also_keep: tuple[str, ...]) -> dict:
    """The best epoch so far by the first head (returned) and by each head of `also_keep` (updated in
    `kept`), weights copied; ties go to the later, longer-trained epoch."""
    if best is None or row["val_top1"] >= best["val_top1"]:
        best = {"epoch": epoch, "val_top1": row["val_top1"], "final": final, "state": _cpu_copy(model)}
    for head in also_keep:
        score = final[head]["top1"]
        if head not in kept or score >= kept[head]["val_top1"]:
            kept[head] = {"epoch": epoch, "val_top1": score, "state": _cpu_copy(model)}
    return best


def _cpu_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _restore(saved: dict, model, optimizer, scheduler, scaler, loss_state, train_loader) -> tuple[list, dict, int, dict]:
    """A killed run's resume point back into the objects that train: (history, best, next epoch, also kept)."""
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    scaler.load_state_dict(saved["scaler"])
    if loss_state is not None:
        loss_state.load_state_dict(saved["loss"])
    restore_random_states(saved["random"], train_loader)
    return saved["history"], saved["best"], saved["epoch"] + 1, saved.get("also_kept", {})


def _train_epoch(train_loader, loss_on_batch, optimizer, scheduler, scaler,
                 max_steps: int | None) -> tuple[dict[str, float], float]:
    """One pass of optimiser steps: ({train_<term>: mean over batches}, seconds spent waiting for batches)."""
    sums: dict[str, float] = {}
    batches, waited = 0, 0.0
    batch_iterator = iter(train_loader)
    while max_steps is None or batches < max_steps:
        asked = time.perf_counter()
        batch = next(batch_iterator, None)
        waited += time.perf_counter() - asked
        if batch is None:
            break
        total, terms = loss_on_batch(batch)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(total).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        for key, value in terms.items():
            sums[key] = sums.get(key, 0.0) + float(value)
        batches += 1
    return {f"train_{k}": v / max(batches, 1) for k, v in sums.items()}, waited


def _autocast(device: torch.device, amp: bool):
    if amp and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def train_stage(
    stage: str,
    *,
    params: dict,
    heatmap_dir: str | Path,
    rgb_dir: str | Path,
    init_checkpoint: str | Path | None,
    out_checkpoint: str | Path,
    label_names: list[str],
    on_epoch: Callable[[int, dict], None] | None = None,
    class_text: np.ndarray | None = None,
    max_steps: int | None = None,
    resume_token: str | None = None,
) -> dict:
    """Train one stage; returns the history and the final validation figures (rank 0's view).
    `class_text`: the class sentences' embeddings, ``K x E`` in label order, for the "text" stage
    (`crychic.training.text` reads them). `max_steps`: batches per epoch, for smoke runs (`fit`).
    `resume_token`: keep a resume point beside `out_checkpoint` under this token of the params and
    inputs, and start from one saved under the same token (`crychic.training.resume`)."""
    if stage not in SPECS:
        raise ValueError(f"unknown training stage {stage!r}: expected one of {STAGES}")
    spec, settings = SPECS[stage], stage_settings(stage, params["train"])
    train_common, loss_params = params["train"], (params["loss"] if spec.guidance_terms else {})
    device, ctx = _stage_device(train_common["device"])
    seed_everything(int(params["seed"]) + ctx.rank)
    amp = bool(train_common["amp"]) and device.type == "cuda"
    datasets, (train_loader, val_loader), sampler, val_split = _stage_data(params, spec.inputs, heatmap_dir, rgb_dir,
                                                                           ctx, device)
    num_classes = len(label_names)
    model, multilevel = _stage_model(stage, spec, params, datasets["train"], heatmap_dir, init_checkpoint, class_text,
                                     num_classes, device)
    loss_fn = _stage_loss(stage, spec, loss_params, model, multilevel, num_classes, device)

    optimizer = _optimizer(model, stage, settings)
    epochs = stage_epochs(stage, params["train"])
    scheduler = warmup_cosine_schedule(optimizer, epochs * len(train_loader), int(settings.get("warmup_epochs", 0)) * len(train_loader))
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    wrapped = _ddp(model, ctx, device)

    def loss_on_batch(batch: dict) -> tuple[torch.Tensor, dict]:
        with _autocast(device, amp):
            return loss_fn(_forward(wrapped, batch, spec.inputs, device), batch["label"].to(device))

    fitted = fit(model, train_loader=train_loader, optimizer=optimizer, scheduler=scheduler, epochs=epochs,
                 loss_on_batch=loss_on_batch, scaler=scaler, sampler=sampler, train_module=wrapped,
                 validate=lambda: validate(model, val_loader, spec, num_classes, device, amp),
                 reduce=lambda value: all_reduce_mean(value, ctx, device), name=stage, is_main=ctx.is_main,
                 on_epoch=on_epoch, max_steps=max_steps, loss_state=loss_fn,
                 also_keep=("student_posefree",) if stage in ("joint", "text") else (),
                 resume=None if resume_token is None else ResumePoint.beside(out_checkpoint, resume_token, ctx.rank))
    _save_and_leave(out_checkpoint, model, stage, label_names, fitted, ctx)
    return {"history": fitted.history, "final": fitted.final, "model": model, "device": device, "is_main": ctx.is_main,
            "val_split": val_split, "best_epoch": fitted.best_epoch,
            "also_kept": {head: {"epoch": kept["epoch"], "val_top1": kept["val_top1"]}
                          for head, kept in fitted.also_kept.items()}}


def _stage_device(setting: str) -> tuple[torch.device, object]:
    """(the device this process trains on, its distributed context): under torchrun on CUDA, each
    rank takes the GPU of its local rank."""
    device = resolve_device(setting, train=True)
    ctx = init_distributed(device)
    if ctx.enabled and device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    return device, ctx


def _save_and_leave(out_checkpoint, model: nn.Module, stage: str, label_names: list[str], fitted: Fitted, ctx) -> None:
    """Rank 0 writes the checkpoint (with the weights of each `also_keep` head's own epoch); every rank
    then waits for it and leaves the process group."""
    if ctx.is_main:
        save_checkpoint(out_checkpoint, model, stage=stage, label_names=label_names,
                        only="teacher" if stage == "teacher" else None,
                        head_states={head: kept["state"] for head, kept in fitted.also_kept.items()})
    if ctx.enabled:
        dist.barrier()
        dist.destroy_process_group()


def _ddp(model: nn.Module, ctx, device: torch.device) -> nn.Module:
    """What steps: the model, or under torchrun its DistributedDataParallel wrapper."""
    if not ctx.enabled:
        return model
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                               find_unused_parameters=True)


def _stage_data(params: dict, modalities: tuple[str, ...], heatmap_dir, rgb_dir, ctx, device: torch.device):
    """(datasets by split, (train loader, val loader), the DDP sampler or None, the val split's name)."""
    execution = execution_settings()
    workers = loader_workers(execution.train_workers, device.type)
    transport = loader_transport(execution.loader_transport, device.type)
    cache = execution.train_cache_mb * 2**20 if workers == 0 else 0  # workers would each keep a copy
    val_split = _validation_split(heatmap_dir if "heatmap" in modalities else None, rgb_dir)
    # Clips cut by the deployment framing (stage decode_rgb_framed: research.deployment_framing)
    framed = "rgb" in modalities and clips_are_framed(rgb_dir)
    datasets = {split: PoseRgbDataset(heatmap_dir if "heatmap" in modalities else None,
                                      rgb_dir if "rgb" in modalities else None, split=split,
                                      augment=split == "train", seed=int(params["seed"]), modalities=modalities,
                                      cache_bytes=cache, framed=framed, transport=transport)
                for split in ("train", val_split)}
    sampler = None
    if ctx.enabled:
        sampler = torch.utils.data.DistributedSampler(datasets["train"], num_replicas=ctx.world_size, rank=ctx.rank,
                                                      shuffle=True, seed=int(params["seed"]))
    batch_size = int(params["train"]["batch_size"])
    pin = device.type == "cuda"
    train_loader = make_loader(datasets["train"], batch_size=batch_size, shuffle=sampler is None, workers=workers,
                               seed=int(params["seed"]), drop_last=len(datasets["train"]) > batch_size, sampler=sampler,
                               pin_memory=pin)
    val_loader = make_loader(datasets[val_split], batch_size=batch_size, shuffle=False, workers=workers,
                             seed=int(params["seed"]), pin_memory=pin)
    return datasets, (train_loader, val_loader), sampler, val_split


def _stage_model(stage: str, spec: StageSpec, params: dict, train_set: PoseRgbDataset, heatmap_dir, init_checkpoint,
                 class_text: np.ndarray | None, num_classes: int, device: torch.device) -> tuple[CrychicModel, bool]:
    """The stage's model, initialised from the previous stage's checkpoint, with what trains in it
    (the teacher alone in stage 1, all but the teacher in stage 2); and whether FR-Head is multi-level."""
    loss_params = params["loss"] if spec.guidance_terms else {}
    model_params = dict(params["model"])
    if stage in ("teacher", "rgb_only"):
        # Neither reads the switch: the teacher never uses guidance, the plain student has none.
        model_params["attention_guidance"] = stage == "teacher"
    text_embeddings = class_text if stage == "text" else None
    source = model_params.get("guidance_source")
    if source in ("keypoints", "hands") and "heatmap" in spec.inputs and not train_set.with_joint:
        raise ValueError(f"{heatmap_dir}: model.guidance_source {source!r} reads the joint channels, "
                         "and these heatmaps have limbs only (heatmap.with_joint: false)")
    if stage == "text" and text_embeddings is None:
        raise ValueError("the text stage needs the class-text embeddings (class_text)")
    multilevel = (spec.guidance_terms and float(loss_params["fr_head_weight"]) > 0
                  and bool(loss_params["fr_head_multilevel"]))
    channels = train_set.heatmap_channels if "heatmap" in spec.inputs else 17
    model = build_model(num_classes, model_params, text_dim=0 if text_embeddings is None else text_embeddings.shape[1],
                        fr_head_levels=multilevel, heatmap_channels=channels)
    if stage in ("joint", "text") and params["train"][SETTINGS[stage]]["from_scratch"]:
        init_checkpoint = None  # single-stage training: everything from random weights
    if init_checkpoint is not None:
        load_checkpoint(init_checkpoint, model)
    if text_embeddings is not None:
        model.set_class_text(torch.from_numpy(text_embeddings))
    if stage == "teacher":
        model.requires_grad_(False)
        model.teacher.requires_grad_(True)
    elif stage == "student":
        model.freeze_teacher()
    return model.to(device), multilevel


def _stage_loss(stage: str, spec: StageSpec, loss_params: dict, model: CrychicModel, multilevel: bool,
                num_classes: int, device: torch.device) -> CrychicLoss:
    # The teacher stage reads no loss params: classification only (the temperature is unused there).
    guided = spec.guidance_terms
    return CrychicLoss(
        attention_weight=float(loss_params["attention_weight"]) if guided else 0.0,
        contrastive_weight=float(loss_params["contrastive_weight"]) if guided else 0.0,
        temperature=float(loss_params["temperature"]) if guided else 0.1,
        fr_head_weight=float(loss_params["fr_head_weight"]) if guided else 0.0,
        text_weight=float(loss_params["text_weight"]) if stage == "text" else 0.0,
        fr_head_levels=len(model.student_levels.spatial) * 2 if multilevel else 0,
        num_classes=num_classes, embed_dim=model.config.embed_dim, classify=_classify(stage, spec, model),
        confidence_gating=guided and bool(loss_params.get("confidence_gating", False)),
    ).to(device)


def stage_settings(stage: str, train_params: dict) -> dict:
    """train.<section> of a stage. rgb_only trains by the student's section at its own learning rate,
    train.student.lr x train.rgb_only.lr_scale: the baseline's rate is chosen on val for it alone
    (`pipeline.rgb_lr_choice`), as the method's settings were chosen for the method."""
    settings = dict(train_params[SETTINGS[stage]])
    if stage == "rgb_only":
        settings["lr"] = float(settings["lr"]) * float(train_params["rgb_only"]["lr_scale"])
    return settings


def stage_epochs(stage: str, train_params: dict) -> int:
    """Epochs of a stage. The RGB-only baseline has its own (`train.rgb_only.epochs`): every network
    trains for the epochs where its own val curve plateaus (`pipeline.epoch_rule`), not the student's."""
    if stage == "rgb_only":
        return int(train_params["rgb_only"]["epochs"])
    return int(train_params[SETTINGS[stage]]["epochs"])


def _validation_split(heatmap_dir: str | Path | None, rgb_dir: str | Path | None = None) -> str:
    """The split to report on, from whichever store the stage reads (split columns only)."""
    if heatmap_dir is not None:
        from crychic.heatmaps.shards import HeatmapShards

        return validation_split(HeatmapShards(heatmap_dir).split_counts())
    from crychic.rgb.shards import RgbClips

    return validation_split(RgbClips(rgb_dir).split_counts())


def _classify(stage: str, spec: StageSpec, model: CrychicModel) -> tuple[str, ...]:
    """The branches the cross-entropy covers: the spec's, and with residual fusion the fused one
    from stage 2 on (the student learns the teacher's residual while the teacher is frozen)."""
    if stage == "student" and model.config.residual_fusion:
        return spec.classify + ("fused",)
    return spec.classify


def warmup_cosine_schedule(optimizer: torch.optim.Optimizer, steps: int, warmup_steps: int):
    """Cosine decay per step over `steps`; with `warmup_steps`, a linear ramp first, the cosine over the rest.
    The one schedule of every trained network (CRYCHIC's stages and the baselines): one recipe, one schedule."""
    if warmup_steps <= 0:
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1))
    decay = max(steps - warmup_steps, 1)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return 0.5 * (1 + math.cos(math.pi * min(step - warmup_steps, decay) / decay))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _optimizer(model: CrychicModel, stage: str, settings: dict) -> torch.optim.Optimizer:
    lr = float(settings["lr"])
    if stage in ("joint", "text"):  # PoseConv3D-style fine-tuning: the pre-trained networks move slower
        teacher = [p for p in model.teacher.parameters() if p.requires_grad]
        student = [p for p in model.student.parameters() if p.requires_grad]
        heads = [p for n, p in model.named_parameters()
                 if p.requires_grad and not n.startswith(("teacher.", "student."))]
        # From scratch (single-stage ablation) there is nothing pre-trained to protect.
        pretrained = not settings["from_scratch"]
        teacher_scale = float(settings["teacher_lr_scale"]) if pretrained else 1.0
        student_scale = float(settings.get("student_lr_scale", 1.0)) if pretrained else 1.0
        groups = [{"params": heads + student, "lr": lr}, {"params": teacher, "lr": lr * teacher_scale}]
        if student_scale != 1.0:  # its own group only when it differs (the same optimiser otherwise)
            groups = [{"params": heads, "lr": lr}, {"params": teacher, "lr": lr * teacher_scale},
                      {"params": student, "lr": lr * student_scale}]
    else:
        groups = [{"params": [p for p in model.parameters() if p.requires_grad], "lr": lr}]
    return make_optimizer(groups, settings)


def make_optimizer(groups, settings: dict) -> torch.optim.Optimizer:
    """`settings["optimizer"]`: "sgd" (Nesterov, at `momentum`) or "adamw", at `lr` and `weight_decay`; one
    function for CRYCHIC's stages and the baselines, so that a preset switching an RGB network to SGD
    switches its baseline peer the same way."""
    lr, weight_decay = float(settings["lr"]), float(settings["weight_decay"])
    if settings["optimizer"] == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=float(settings["momentum"]), nesterov=True,
                               weight_decay=weight_decay)
    return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
