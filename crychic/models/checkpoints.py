"""The joint model built from the `model` params, and the one checkpoint format every stage writes.

A checkpoint holds tensors and plain data only (stage, registered model name, the model's config
as `dataclasses.asdict`, `state_dict`, class names, and stage 3's `head_states`), so that
`read_checkpoint` loads it with `weights_only=True` and nothing in a file can run code. Training
writes these, evaluate, `crychic predict` and the MLflow models read them.
"""

from __future__ import annotations

import dataclasses
import pickle
import re
from pathlib import Path

import torch
from torch import nn

from crychic.core.atomic_write import atomic_path
from crychic.models.crychic_model import CrychicConfig, CrychicModel



def build_model(num_classes: int, model_params: dict, text_dim: int = 0, fr_head_levels: bool = False,
                heatmap_channels: int = 17) -> CrychicModel:
    """The joint model from the `model` params (`crychic.core.stage_registry.MODEL_KEYS`, and `attention_guidance`); `text_dim`
    > 0 adds the projections into the class-text space (the `train_text` stage's model);
    `fr_head_levels` the student's spatial/temporal descriptors of multi-level FR-Head;
    `heatmap_channels` the volumes' K (17 joints, 17 limbs, or both: `heatmap.with_joint/with_limb`)."""
    multiscale = bool(model_params["multiscale"])
    # The design switches of the guided stages (absent from the teacher's and rgb_only's params).
    guidance_source = str(model_params.get("guidance_source", "teacher"))
    residual_fusion = bool(model_params.get("residual_fusion", False))
    config = CrychicConfig(
        num_classes=num_classes,
        teacher=model_params["teacher"], student=model_params["student"],
        teacher_overrides={"multiscale_blocks": multiscale, "in_channels": int(heatmap_channels)},
        student_overrides={"temporal": "multiscale" if multiscale else "plain"},
        embed_dim=int(model_params["embed_dim"]),
        use_attention_guidance=bool(model_params["attention_guidance"]),
        attention_p=model_params["attention_p"],
        detach_guidance=bool(model_params["detach_guidance"]),
        guidance_dropout=float(model_params["guidance_dropout"]),
        fusion=str(model_params["fusion"]),
        fusion_dropout=float(model_params["fusion_dropout"]),
        text_dim=int(text_dim),
        fr_head_levels=bool(fr_head_levels),
        guidance_source=guidance_source,
        residual_fusion=residual_fusion,
    )
    return CrychicModel(config)


def save_checkpoint(path: str | Path, model: nn.Module, *, stage: str, label_names: list[str],
                    only: str | None = None, model_name: str | None = None,
                    head_states: dict[str, dict] | None = None) -> None:
    """The one checkpoint format: stage, (registered model name,) the model's config as plain data
    (`dataclasses.asdict`), weights, class names: what `read_checkpoint` reads without running code.
    `only="teacher"` keeps just the teacher's weights (stage 1 trains nothing else). `head_states`: whole-model weights of other epochs, kept by another head's val
    score (stage 3's pose-free student: `load_checkpoint(..., head=...)`)."""
    state = {k: v.cpu() for k, v in model.state_dict().items() if only is None or k.startswith(f"{only}.")}
    payload = {"stage": stage, **({"model_name": model_name} if model_name else {}),
               "model_config": dataclasses.asdict(model.config), "state_dict": state, "label_names": list(label_names)}
    if head_states:
        payload["head_states"] = {head: {k: v.cpu() for k, v in states.items()} for head, states in head_states.items()}
    # Saved through a file object: given a path, torch.save names the zip's root folder after the
    # (temporary, random) file name, so two identical runs wrote checkpoints of different bytes.
    with atomic_path(path) as tmp, open(tmp, "wb") as file:
        torch.save(payload, file)


def read_checkpoint(path: str | Path) -> dict:
    """A checkpoint's contents (`save_checkpoint`, the baselines' too), read as tensors and plain data
    only (`weights_only`): a file that asks the unpickler for anything else (code, arbitrary
    objects) is refused with a ValueError, before any of it runs."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # torch's message advises switching the safe mode off; keep only what the file asked for
        asked = re.search(r"GLOBAL ([\w.]+)", str(error))
        raise ValueError(f"{path}: refused: a checkpoint holds tensors and plain data only (dicts, lists, strings, "
                         f"numbers), this one asks for {asked.group(1) if asked else 'more'!r}") from None
    if payload.get("enabled") is False:  # a research arm switched off wrote a marker in its checkpoint's place
        raise ValueError(f"{path}: a marker, not a trained network: {payload.get('reason', 'its stage trained nothing')}")
    return payload


def load_checkpoint(path: str | Path, model: CrychicModel, head: str | None = None) -> dict:
    """Load the kept weights, or with `head` those kept by that head's val score (`head_states`;
    a checkpoint without them has one kept epoch for every head). `read_checkpoint` reads it."""
    payload = read_checkpoint(path)
    state = payload.get("head_states", {}).get(head, payload["state_dict"]) if head else payload["state_dict"]
    payload = {**payload, "state_dict": state}
    missing, unexpected = model.load_state_dict(payload["state_dict"], strict=False)
    if unexpected:
        raise ValueError(f"{path}: checkpoint has weights this model lacks: {unexpected[:5]}")
    loaded = set(payload["state_dict"])
    prefixes = {k.split(".", 1)[0] for k in loaded}
    still_missing = [k for k in missing if k.split(".", 1)[0] in prefixes]
    if still_missing:
        raise ValueError(f"{path}: checkpoint lacks weights for {still_missing[:5]} (model settings changed?)")
    return payload
