"""The `train_text` stage's training: stage 3 with the class sentences as text anchors.

Reads the `embed_class_text` stage's file (``K x E`` sentence embeddings in label order, checked
against the manifest's class names) and runs `crychic.training.loop.train_stage("text")`. Kept out
of the loop so that the other training stages never import, nor re-run for, the language package.
"""

from __future__ import annotations

from collections.abc import Callable

from crychic.language.class_text import read_class_text
from crychic.training.loop import train_stage


def train_text_from_args(stage: str, params: dict, args, label_names: list[str],
                         on_epoch: Callable[[int, dict], None] | None = None, resume_token: str | None = None) -> dict:
    embeddings, text_names, _ = read_class_text(args.class_text)
    if text_names != list(label_names):
        raise ValueError(f"{args.class_text}: class names {text_names} differ from the manifest's {list(label_names)}"
                         " (re-run embed_class_text)")
    return train_stage(stage, params=params, heatmap_dir=args.heatmaps, rgb_dir=args.rgb, init_checkpoint=args.init,
                       out_checkpoint=args.out, label_names=label_names, on_epoch=on_epoch, class_text=embeddings,
                       resume_token=resume_token)
