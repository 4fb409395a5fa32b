"""Attention transfer (Zagoruyko & Komodakis, ICLR 2017) from the skeleton teacher to the RGB student.

Layouts: ``student_att`` and ``teacher_att`` are lists with one entry per stage pair, each
``N x 1 x T x H x W`` (a spatial attention map per frame), the two lists aligned by the model
to the same shapes (stage s of the student pairs with stage s of the teacher).

The loss, for S stages and frame maps a (student) and b (teacher) flattened to H*W vectors:

    AT = 1/S * sum_s  mean_{n, t}  || a / ||a||_2  -  b / ||b||_2 ||_2^2

Normalising each frame's map makes only *where* the attention lies matter, not its overall
scale (a student whose features are twice as strong is not penalised). Each frame's term is a
squared distance between unit vectors, 2 - 2 cos(a, b), so it lies in [0, 4] ([0, 2] for
non-negative maps) whatever H x W is, and every stage counts equally. (Zagoruyko's
reference code takes ``.pow(2).mean()`` over the positions as well, which divides a stage's
term by its H*W and lets the finest stage dominate; we average over frames only.)
An all-zero frame map normalises to zero rather than to NaN.

`weights` (``N``, optional) scales each clip's term (a mean over the clips of weight x term):
teacher-confidence gating passes guidance only where the teacher is right.

The teacher is a guide, not a pupil: its maps are detached, so this loss never moves the teacher,
even in the joint fine-tuning stage.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def attention_transfer_loss(student_att: Sequence[torch.Tensor], teacher_att: Sequence[torch.Tensor],
                            weights: torch.Tensor | None = None) -> torch.Tensor:
    """The AT loss above, a scalar; raises ValueError naming the stage when the maps are not aligned."""
    if len(student_att) != len(teacher_att) or len(student_att) == 0:
        raise ValueError(
            f"attention transfer needs the same non-zero number of stages on both sides, "
            f"got {len(student_att)} student and {len(teacher_att)} teacher maps"
        )
    stage_losses = []
    for stage, (student_map, teacher_map) in enumerate(zip(student_att, teacher_att)):
        if student_map.ndim != 5 or student_map.shape[1] != 1 or student_map.shape != teacher_map.shape:
            raise ValueError(
                f"attention maps of stage {stage} are not aligned: student {tuple(student_map.shape)}, "
                f"teacher {tuple(teacher_map.shape)}; both must be N x 1 x T x H x W of one shape"
            )
        num_clips, _, num_frames, height, width = student_map.shape
        # N x 1 x T x H x W -> (N*T) x (H*W): one row per frame.
        student_rows = F.normalize(student_map.transpose(1, 2).reshape(num_clips * num_frames, height * width), dim=1)
        teacher_rows = F.normalize(
            teacher_map.detach().transpose(1, 2).reshape(num_clips * num_frames, height * width), dim=1
        )
        per_frame = (student_rows - teacher_rows).pow(2).sum(dim=1)  # N*T
        if weights is None:
            stage_losses.append(per_frame.mean())
        else:  # N*T -> N x T: each clip's mean over its frames, scaled by its weight
            stage_losses.append((per_frame.reshape(num_clips, num_frames).mean(1) * weights).mean())
    return torch.stack(stage_losses).mean()
