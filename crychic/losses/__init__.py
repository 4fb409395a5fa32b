"""CRYCHIC's loss terms: classification, attention transfer, cross-modal InfoNCE, FR-Head, text anchor.

One concept per module: `contrastive` (InfoNCE and the alignment figures evaluation reports),
`attention_transfer` (teacher -> student spatial attention), `fr_head` (prototype refinement),
`text_anchor` (features to their class sentence's embedding), `total` (their weighted sum for the three training stages).
"""

from crychic.losses.attention_transfer import attention_transfer_loss
from crychic.losses.contrastive import alignment_stats, info_nce
from crychic.losses.fr_head import PrototypeRefinement
from crychic.losses.text_anchor import text_anchor_loss, text_logits
from crychic.losses.total import CrychicLoss

__all__ = ["CrychicLoss", "PrototypeRefinement", "alignment_stats", "attention_transfer_loss", "info_nce",
           "text_anchor_loss", "text_logits"]
