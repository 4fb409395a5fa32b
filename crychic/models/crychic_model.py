"""CRYCHIC: the heatmap teacher guides the RGB student; both meet in a contrastive space and a fusion head.

Inputs: ``heatmap N x K x T_h x 56 x 56`` (PoseConv3D volumes), ``rgb N x 3 x T x H x W`` (clips cut
from the same person box, so a teacher map and a student map cover the same pixels). Either may be
missing: the forward returns whatever is computable, so one module serves the three training
stages (teacher alone, guided student, joint) and both inference modes (fused, pose-free = rgb only).

Outputs (keys present only when computable):
  teacher_logits, teacher_embedding, teacher_features, teacher_attention  (heatmap given)
  student_logits, student_embedding, student_features, student_attention  (rgb given; the student's
      own attention, before any guidance weighting; with rgb only, the student weights its features
      by its own attention, which the attention-transfer loss trains to match the teacher's)
  teacher_attention_aligned  (both given: the teacher's maps on the student's stage grids)
  guidance_maps  (both given: what guides the student, on its stage grids, per `guidance_source`:
      the teacher's attention, keypoint regions (hands, head, feet: from the heatmap volume's joint
      channels, whatever the teacher learned; params.yaml's default), the wrists alone (`hands`: an
      oracle hand mask, a control) or a map uniform over the person box (`uniform`, a control); the
      attention-transfer loss pulls the student's own attention toward these and, with
      `use_attention_guidance`, they weight its features). With `heatmap_in_rgb` (``N x 4``, clips
      cut by the deployment framing: where the heatmap's square lies in the RGB clip) every map is
      carried into the clip's frame, zero outside the person box, instead of aligned one-to-one.
  z_teacher, z_student  (N x embed_dim, L2-normalised projections for the contrastive loss)
  t_teacher, t_student  (only when `text_dim` > 0: N x text_dim, L2-normalised projections into the
      frozen class-text space, compared with the `class_text` buffer, K x text_dim: the text anchor;
      student_text_logits N x K, the student's cosine to each class sentence, no classifier head)
  student_levels  (only with `fr_head_levels`: FR-Head's spatial and temporal descriptors of the
      student's stages, a list of N x embed_dim)
  fusion_head_logits  (both given: the linear head over the concatenated embeddings alone, so that
      evaluation can compare fusion rules on val)
  fused_logits  (both given; `fusion="concat"`: a linear head over the concatenated embeddings;
      `"concat_ensemble"`, the default: the log of the mean of that head's, the teacher's and the
      student's class probabilities. On small data the concat head alone leans on whichever branch
      fits the training subjects best (the teacher memorises which subject held the cup) and lost
      6 points of test top-1 against the average on the synthetic benchmark; the average keeps each
      branch's own evidence. Either way the output is a log-probability usable as logits.
      With `residual_fusion`, the fusion head reads the student's embedding alone and adds to
      the teacher's (detached) log-probabilities: the student is trained on what the teacher gets
      wrong, boosting-style, and keeps its own head for pose-free use.)
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import torch
import torch.nn.functional as F
from torch import nn

from crychic.models.attention import WRISTS, align_attention, carry_to_frame, hand_mask, spatial_attention
from crychic.models.registry import create_model
from crychic.models.student import StudentConfig, Student
from crychic.models.teacher import Teacher, TeacherConfig


FUSIONS = ("concat", "concat_ensemble")
GUIDANCE_SOURCES = ("teacher", "keypoints", "hands", "uniform")
# COCO-17 joints whose surroundings `guidance_source="keypoints"` points the student at: the nose
# (head), the wrists (hands and what they hold) and the ankles (feet).
REGION_JOINTS = (0, 9, 10, 15, 16)


@dataclass(frozen=True)
class CrychicConfig:
    num_classes: int = 60
    teacher: str | TeacherConfig = "posec3d_tiny"  # a registered name or a full config
    student: str | StudentConfig = "resnet18_tiny"
    teacher_overrides: dict = field(default_factory=dict)  # applied to a named preset
    student_overrides: dict = field(default_factory=dict)
    embed_dim: int = 128  # contrastive projection size
    use_attention_guidance: bool = True  # weight student stages by the teacher's attention
    attention_p: float = 2
    detach_guidance: bool = True  # guidance is a signal: the student's loss never reshapes the teacher through it
    # In training, this share of batches is weighted by the student's own attention instead of the
    # teacher's, so the student also learns the pose-free mode it is deployed in.
    guidance_dropout: float = 0.5
    # With both inputs at inference, whether the teacher's maps (True) or the student's own (False)
    # weight the student's features. The evaluate stage chooses this on val (`guide_at_inference`
    # attribute of the model); training never reads it.
    guide_at_inference: bool = False
    fusion: str = "concat_ensemble"  # or "concat" (see the module docstring); the training target
    fusion_dropout: float = 0.5
    # > 0: both networks also project into the class-text space (the `embed_class_text` stage's
    # sentence embeddings, a K x text_dim buffer set by `set_class_text`): the text anchor.
    text_dim: int = 0
    # FR-Head's multi-level form: spatial and temporal descriptors of each student stage, each
    # projected to embed_dim, refined by their own prototypes (`crychic.losses.fr_head`).
    fr_head_levels: bool = False
    # What guides the student (GUIDANCE_SOURCES; see the module docstring). "keypoints" reads the
    # heatmap volume's first 17 channels as COCO-17 joints (`heatmap.with_joint`).
    guidance_source: str = "teacher"
    # Boosting-style fusion: the fusion head sees the student's embedding only, on top of the
    # teacher's log-probabilities (module docstring).
    residual_fusion: bool = False


def config_from_dict(saved: dict) -> CrychicConfig:
    """The config a checkpoint (`dataclasses.asdict`) or a logged model (JSON) stores as plain data,
    rebuilt: a teacher or student stored as a dict is its full config again, JSON's lists are
    tuples again. Unknown keys are an error, not silently dropped."""

    def build(cls, values: dict):
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown settings {unknown}")
        return cls(**{key: _tuples(value) for key, value in values.items()})

    networks = {"teacher": TeacherConfig, "student": StudentConfig}
    return build(CrychicConfig, {key: build(networks[key], value) if key in networks and isinstance(value, dict)
                                 else value for key, value in saved.items()})


def _tuples(value):
    """JSON's lists back as the tuples the configs hold (also inside the overrides' dicts)."""
    if isinstance(value, (list, tuple)):
        return tuple(_tuples(item) for item in value)
    if isinstance(value, dict):
        return {key: _tuples(item) for key, item in value.items()}
    return value


def _build(spec, overrides: dict, num_classes: int) -> nn.Module:
    if isinstance(spec, str):
        return create_model(spec, num_classes=num_classes, **overrides)
    network = Teacher if isinstance(spec, TeacherConfig) else Student
    return network(replace(spec, num_classes=num_classes, **overrides))


def projection_head(in_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, in_dim), nn.ReLU(inplace=True), nn.Linear(in_dim, out_dim))


class SpatioTemporalDescriptors(nn.Module):
    """FR-Head's spatial-temporal decoupling at every stage: ``N x C x T x h x w`` maps -> per stage
    a spatial descriptor (mean over T, pooled to 2 x 2, linear to D) and a temporal one (mean over
    h x w, pooled to 2 steps, linear to D): a list of ``2 * stages`` embeddings ``N x D``."""

    def __init__(self, channels: list[int], dim: int):
        super().__init__()
        self.spatial = nn.ModuleList(nn.Linear(c * 4, dim) for c in channels)
        self.temporal = nn.ModuleList(nn.Linear(c * 2, dim) for c in channels)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        out = []
        for x, spatial, temporal in zip(features, self.spatial, self.temporal):
            where = F.adaptive_avg_pool2d(x.mean(2), 2).flatten(1)  # N x C x h x w -> N x 4C
            when = F.adaptive_avg_pool1d(x.mean((3, 4)), 2).flatten(1)  # N x C x T -> N x 2C
            out += [spatial(where), temporal(when)]
        return out


class CrychicModel(nn.Module):
    def __init__(self, config: CrychicConfig):
        super().__init__()
        if config.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {config.fusion!r}")
        if config.guidance_source not in GUIDANCE_SOURCES:
            raise ValueError(f"guidance_source must be one of {GUIDANCE_SOURCES}, got {config.guidance_source!r}")
        self.config = config
        self.teacher = _build(config.teacher, config.teacher_overrides, config.num_classes)
        self.student = _build(config.student, config.student_overrides, config.num_classes)
        self.teacher_proj = projection_head(self.teacher.embed_dim, config.embed_dim)
        self.student_proj = projection_head(self.student.embed_dim, config.embed_dim)
        fused_width = self.student.embed_dim + (0 if config.residual_fusion else self.teacher.embed_dim)
        self.fusion_head = nn.Sequential(nn.Dropout(config.fusion_dropout), nn.Linear(fused_width, config.num_classes))
        if config.fr_head_levels:
            widths = [self.student.config.width * 2**i for i in range(1, len(self.student.config.stage_blocks))]
            self.student_levels = SpatioTemporalDescriptors(widths, config.embed_dim)
        if config.text_dim > 0:
            self.teacher_text = projection_head(self.teacher.embed_dim, config.text_dim)
            self.student_text = projection_head(self.student.embed_dim, config.text_dim)
            self.register_buffer("class_text", torch.zeros(config.num_classes, config.text_dim))
        self.teacher_frozen = False
        self.guide_at_inference = config.guide_at_inference  # evaluation may switch it (chosen on val)

    def set_class_text(self, embeddings: torch.Tensor) -> None:
        """The class sentences' embeddings, ``K x text_dim`` in label order (frozen: a buffer)."""
        expected = (self.config.num_classes, self.config.text_dim)
        if self.config.text_dim <= 0 or tuple(embeddings.shape) != expected:
            raise ValueError(f"class text must be {expected[0]} x {expected[1]} (text_dim > 0), "
                             f"got {tuple(embeddings.shape)}")
        self.class_text.copy_(embeddings)

    def freeze_teacher(self) -> None:
        """Training stage 2: the teacher only guides; no gradients, BN statistics fixed (kept in eval)."""
        self.teacher_frozen = True
        self.teacher.requires_grad_(False).eval()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.teacher_frozen:
            self.teacher.eval()  # model.train() must not wake the frozen teacher's BatchNorm
        return self

    def _guidance_maps(self, heatmap: torch.Tensor, teacher_aligned: list[torch.Tensor], frames: int,
                       sizes: list[tuple[int, int]], heatmap_in_rgb: torch.Tensor | None) -> list[torch.Tensor]:
        """One ``N x 1 x T x h x w`` map per student stage, in [0, 1], from `guidance_source`."""
        source = self.config.guidance_source
        if source == "teacher":
            return teacher_aligned
        if source == "uniform":  # the whole person box: all of a box-cut clip, the box's place in a framed one
            if heatmap_in_rgb is None:
                return [torch.ones_like(a) for a in teacher_aligned]
            box = heatmap.new_ones(heatmap.shape[0], 1, *heatmap.shape[2:])  # N x 1 x T_h x H x W
            return [self._onto_student(box, frames, size, heatmap_in_rgb) for size in sizes]
        if heatmap.shape[1] < 17:
            raise ValueError(f"keypoint guidance reads 17 joint channels; the heatmaps have {heatmap.shape[1]}")
        # Each joint's peak grown to the region around it (about an eighth of the box a side: a hand
        # and what it holds), N x 1 x T_h x H x W, then onto each stage's grid like the teacher's maps.
        reach = max(1, heatmap.shape[-1] // 16) * 2 + 1
        regions = hand_mask(heatmap.float(), joints=REGION_JOINTS if source == "keypoints" else WRISTS, reach=reach)
        return [self._onto_student(regions, frames, size, heatmap_in_rgb) for size in sizes]

    @staticmethod
    def _onto_student(att: torch.Tensor, frames: int, size: tuple[int, int],
                      heatmap_in_rgb: torch.Tensor | None) -> torch.Tensor:
        """A heatmap-frame map onto a student stage grid: one-to-one (both cut by the person box),
        or carried to where the box lies in a clip cut otherwise (`heatmap_in_rgb`)."""
        if heatmap_in_rgb is None:
            return align_attention(att, frames, size)
        return carry_to_frame(att, heatmap_in_rgb.to(att.dtype), frames, size)

    def forward(self, heatmap: torch.Tensor | None = None, rgb: torch.Tensor | None = None,
                heatmap_in_rgb: torch.Tensor | None = None) -> dict:
        if heatmap is None and rgb is None:
            raise ValueError("CrychicModel needs a heatmap, an rgb clip, or both")
        if heatmap is not None and rgb is not None and heatmap.shape[0] != rgb.shape[0]:
            raise ValueError(f"batch sizes differ: heatmap {heatmap.shape[0]}, rgb {rgb.shape[0]}")
        out, guidance = {}, None
        if heatmap is not None:
            t = self.teacher(heatmap)
            out.update(teacher_logits=t["logits"], teacher_embedding=t["embedding"], teacher_features=t["features"],
                       teacher_attention=[spatial_attention(f, self.config.attention_p) for f in t["features"]])
            out["z_teacher"] = F.normalize(self.teacher_proj(t["embedding"]), dim=1)
            if self.config.text_dim > 0:
                out["t_teacher"] = F.normalize(self.teacher_text(t["embedding"]), dim=1)
        if rgb is not None:
            if heatmap is not None:
                frames, sizes = rgb.shape[2], self.student.feature_sizes(*rgb.shape[-2:])
                out["teacher_attention_aligned"] = [self._onto_student(a, frames, size, heatmap_in_rgb)  # N x 1 x T x h x w
                                                    for a, size in zip(out["teacher_attention"], sizes)]
                out["guidance_maps"] = self._guidance_maps(heatmap, out["teacher_attention_aligned"], frames, sizes,
                                                           heatmap_in_rgb)
                if self.config.use_attention_guidance:
                    guidance = [a.detach() if self.config.detach_guidance else a for a in out["guidance_maps"]]
                    if self.training and torch.rand(()) < self.config.guidance_dropout:
                        guidance = "self"
                    elif not self.training and not self.guide_at_inference:
                        guidance = "self"
            elif self.config.use_attention_guidance:
                guidance = "self"  # pose-free inference
            s = self.student(rgb, attention_weights=guidance)
            out.update(student_logits=s["logits"], student_embedding=s["embedding"], student_features=s["features"],
                       student_attention=[spatial_attention(f, self.config.attention_p) for f in s["features"]])
            out["z_student"] = F.normalize(self.student_proj(s["embedding"]), dim=1)
            if self.config.fr_head_levels:
                out["student_levels"] = self.student_levels(s["features"])
            if self.config.text_dim > 0:
                out["t_student"] = F.normalize(self.student_text(s["embedding"]), dim=1)
                # cosine to each class sentence, N x K: classification by the nearest sentence
                out["student_text_logits"] = out["t_student"] @ F.normalize(self.class_text, dim=1).T
        if self.config.text_dim > 0:
            out["class_text"] = self.class_text
        if heatmap is not None and rgb is not None:
            if self.config.residual_fusion:  # the teacher's log-probabilities + the student's residual, N x classes
                head = (F.log_softmax(out["teacher_logits"].detach().float(), dim=1)
                        + self.fusion_head(out["student_embedding"]).float())
            else:
                head = self.fusion_head(torch.cat([out["teacher_embedding"], out["student_embedding"]], 1))  # N x classes
            out["fusion_head_logits"] = head
            if self.config.residual_fusion or self.config.fusion == "concat":
                out["fused_logits"] = head
            else:  # mean of three probability vectors, N x 3 x classes -> N x classes
                probabilities = torch.stack([head, out["teacher_logits"], out["student_logits"]], 1).softmax(-1)
                out["fused_logits"] = probabilities.mean(1).clamp_min(1e-12).log()
        return out
