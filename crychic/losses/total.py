"""The CRYCHIC training objective: classification plus the three optional guidance terms.

Layouts (keys of the model's ``outputs`` dict, read only when a term needs them):
``teacher_logits`` / ``student_logits`` / ``fused_logits`` ``N x K``;
``student_attention`` / ``guidance_maps`` lists of ``N x 1 x T x H x W``, one per stage,
already aligned by the model (the guidance: the teacher's attention, keypoint regions or uniform); ``z_teacher`` / ``z_student`` ``N x D`` projected clip embeddings;
``labels`` ``N`` int64.

    total = sum over `classify` branches of CE(branch_logits, labels)
          + attention_weight   * AT(student_attention, guidance_maps; w)
          + contrastive_weight * InfoNCE(z_teacher, z_student; temperature; w)
          + fr_head_weight     * PrototypeRefinement(z_<fr_head_branch>, labels, <fr_head_branch>_logits)
                                 (multi-level: the mean of that and one refinement per descriptor in
                                  ``<branch>_levels``, FR-Head's spatial/temporal per-stage features)
          + text_weight        * (TextAnchor(t_teacher, class_text) + TextAnchor(t_student, class_text))

(w: per-clip weights of the two guidance terms: 1, or with `confidence_gating` the teacher's
probability of the true class, detached, so that the teacher passes on only what it gets right
and the student keeps its own cues where the teacher is blind; the text anchor: ``t_*`` ``N x E`` projections into the frozen class-sentence space, ``class_text``
``K x E``; cross-entropy over cosine / temperature against the labels, for every branch present)

One class serves the three training stages by its arguments: stage 1 classifies the teacher
alone; stage 2 the student with attention and contrastive guidance; stage 3 adds the fused head.
A term whose weight is 0 is not computed at all, so its outputs need not exist (a baseline
without a teacher passes no teacher outputs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from crychic.losses.attention_transfer import attention_transfer_loss
from crychic.losses.contrastive import info_nce
from crychic.losses.fr_head import PrototypeRefinement
from crychic.losses.text_anchor import text_anchor_loss

BRANCHES = ("teacher", "student", "fused")


def _require(outputs: Mapping, key: str, term: str):
    if key not in outputs:
        raise KeyError(
            f"the {term} term needs outputs[{key!r}], which the model did not return (have: {sorted(outputs)})"
        )
    return outputs[key]


class CrychicLoss(nn.Module):
    """The weighted sum above; a module because the FR-Head prototypes are state to save and move.

    ``forward`` returns ``(total, terms)``: ``terms`` holds each computed term *unweighted*
    (``ce_<branch>``, ``attention``, ``contrastive``, ``fr_head``) and the weighted ``total``, as
    floats for logging; zero-weight terms are absent.
    """

    def __init__(
        self,
        attention_weight: float = 0.0,
        contrastive_weight: float = 0.0,
        temperature: float = 0.07,
        fr_head_weight: float = 0.0,
        num_classes: int | None = None,
        embed_dim: int | None = None,
        classify: Sequence[str] = ("student",),
        fr_head_branch: str = "student",
        fr_head_momentum: float = 0.9,
        fr_head_temperature: float = 0.125,
        text_weight: float = 0.0,
        fr_head_levels: int = 0,
        confidence_gating: bool = False,
    ):
        super().__init__()
        unknown = set(classify) - set(BRANCHES)
        if unknown or fr_head_branch not in ("teacher", "student"):
            raise ValueError(
                f"classify must name branches among {BRANCHES} (got {tuple(classify)}) and fr_head_branch "
                f"'teacher' or 'student' (got {fr_head_branch!r})"
            )
        weights = {"attention": attention_weight, "contrastive": contrastive_weight, "fr_head": fr_head_weight,
                   "text": text_weight}
        if any(weight < 0 for weight in weights.values()):
            raise ValueError(f"loss weights must be >= 0, got {weights}")
        if not classify and not any(weights.values()):
            raise ValueError("nothing to optimise: no branch to classify and every guidance weight is 0")
        self.classify = tuple(classify)
        self.attention_weight = attention_weight
        self.contrastive_weight = contrastive_weight
        self.temperature = temperature
        self.fr_head_weight = fr_head_weight
        self.text_weight = text_weight
        self.fr_head_branch = fr_head_branch
        self.confidence_gating = confidence_gating
        self.prototype_refinement = None
        self.level_refinements = nn.ModuleList()
        if fr_head_weight > 0:
            if num_classes is None or embed_dim is None:
                raise ValueError("fr_head_weight > 0 needs num_classes and embed_dim (the prototype table's size)")
            self.prototype_refinement = PrototypeRefinement(
                num_classes, embed_dim, momentum=fr_head_momentum, temperature=fr_head_temperature
            )
            # Multi-level form: one prototype table per extra descriptor (`student_levels`).
            self.level_refinements = nn.ModuleList(
                PrototypeRefinement(num_classes, embed_dim, momentum=fr_head_momentum, temperature=fr_head_temperature)
                for _ in range(fr_head_levels))

    def forward(self, outputs: Mapping, labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        weighted_terms = []
        terms: dict[str, float] = {}
        for branch in self.classify:
            cross_entropy = F.cross_entropy(_require(outputs, f"{branch}_logits", f"{branch} classification"), labels)
            weighted_terms.append(cross_entropy)
            terms[f"ce_{branch}"] = float(cross_entropy.detach())
        gate = None
        if self.confidence_gating and (self.attention_weight > 0 or self.contrastive_weight > 0):
            teacher_logits = _require(outputs, "teacher_logits", "confidence gating").detach().float()
            gate = teacher_logits.softmax(1).gather(1, labels[:, None])[:, 0]  # N: p_teacher(true class)
            terms["gate"] = float(gate.mean())
        if self.attention_weight > 0:
            attention = attention_transfer_loss(
                _require(outputs, "student_attention", "attention transfer"),
                _require(outputs, "guidance_maps", "attention transfer"),
                weights=gate,
            )
            weighted_terms.append(self.attention_weight * attention)
            terms["attention"] = float(attention.detach())
        if self.contrastive_weight > 0:
            contrastive = info_nce(
                _require(outputs, "z_teacher", "contrastive"),
                _require(outputs, "z_student", "contrastive"),
                self.temperature,
                weights=gate,
            )
            weighted_terms.append(self.contrastive_weight * contrastive)
            terms["contrastive"] = float(contrastive.detach())
        if self.prototype_refinement is not None:
            branch = self.fr_head_branch
            logits = _require(outputs, f"{branch}_logits", "FR-Head")
            fr_head = self.prototype_refinement(_require(outputs, f"z_{branch}", "FR-Head"), labels, logits)
            if len(self.level_refinements):  # the mean over the clip embedding and every level's descriptor
                levels = _require(outputs, f"{branch}_levels", "multi-level FR-Head")
                if len(levels) != len(self.level_refinements):
                    raise ValueError(f"{len(levels)} descriptors for {len(self.level_refinements)} prototype tables")
                fr_head = torch.stack([fr_head] + [refine(z, labels, logits)
                                                   for refine, z in zip(self.level_refinements, levels)]).mean()
            weighted_terms.append(self.fr_head_weight * fr_head)
            terms["fr_head"] = float(fr_head.detach())
        if self.text_weight > 0:
            prototypes = _require(outputs, "class_text", "text anchor")
            anchors = [outputs[key] for key in ("t_teacher", "t_student") if key in outputs]
            if not anchors:
                raise KeyError("the text anchor term needs outputs['t_teacher'] or outputs['t_student'] "
                               f"(a model with text_dim > 0), have: {sorted(outputs)}")
            text = torch.stack([text_anchor_loss(t, prototypes, labels, self.temperature) for t in anchors]).sum()
            weighted_terms.append(self.text_weight * text)
            terms["text"] = float(text.detach())
        total = torch.stack(weighted_terms).sum()
        terms["total"] = float(total.detach())
        return total, terms
