"""The evaluated methods: one registry that the evaluate stage, the ablation sweep and the README's
results table all read, so a row has one name, one description and one test-time modality everywhere.

A method is scored per test clip from logits ``N x C`` (N clips, C classes); the README's claims
are paired differences between two methods on the same clips (`COMPARISONS`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    name: str
    description: str
    modality: str  # what the method needs at test time
    network: bool = True  # False: no torch network to time (the colour cue)


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("teacher", "skeleton heatmaps (stage 1)", "skeleton (heatmaps)"),
    Method("gcn", "raw keypoints, ST-GCN-style", "skeleton (keypoints)"),
    Method("msg3d", "raw keypoints, MS-G3D-style (multi-scale G3D graph convolution)", "skeleton (keypoints)"),
    Method("sta_lstm", "raw keypoints, STA-LSTM (spatial and temporal attention)", "skeleton (keypoints)"),
    Method("colour_cue", "hue histogram around the keypoint wrists, logistic regression", "RGB + keypoints",
           network=False),
    Method("rgb_only", "plain RGB student, no teacher, its own epochs and rate", "RGB (keypoint box)"),
    Method("i3d", "I3D-style RGB network (ResNet18 inflated to 3D), rgb_only's size",
           "RGB (keypoint box)"),
    Method("late_fusion", "teacher + rgb_only scores, weight chosen on val", "skeleton + RGB"),
    Method("student_guided", "RGB student trained with the teacher (stage 2), pose-free", "RGB (keypoint box)"),
    Method("crychic_posefree", "CRYCHIC student after joint fine-tuning, pose-free, keypoint-box crop",
           "RGB (keypoint box)"),
    Method("crychic_text", "CRYCHIC student after stage 3 with the text anchor, pose-free", "RGB (keypoint box)"),
    Method("crychic_text_zeroshot", "crychic_text's nearest class sentence (no classifier head)",
           "RGB (keypoint box) + class text"),
    Method("rgb_only_nokp", "rgb_only on clips framed without keypoints", "RGB only"),
    Method("crychic_posefree_nokp", "crychic_posefree on clips framed without keypoints", "RGB only"),
    Method("crychic_fused", "CRYCHIC fused (teacher + student), rule chosen on val", "skeleton + RGB"),
)}

# The rows of a research arm, present only when it trained (`research.text_anchor`: `train_text`).
TEXT_ANCHOR_ROWS = ("crychic_text", "crychic_text_zeroshot")

# The README's claims, each a paired difference (first minus second) on the same test clips.
COMPARISONS = [
    ("student_guided", "rgb_only"),           # the teacher makes the pose-free student better (stage 2)...
    ("crychic_posefree", "rgb_only"),         # ... and after joint fine-tuning
    ("crychic_posefree_nokp", "rgb_only_nokp"),  # ... and with no keypoints at all
    ("crychic_fused", "teacher"),             # the modalities complement each other
    ("crychic_fused", "crychic_posefree"),
    ("late_fusion", "teacher"),
    ("crychic_fused", "late_fusion"),         # CRYCHIC beyond averaging two separately trained models
    ("crychic_text", "crychic_posefree"),     # the text anchor (same start, same stage-3 epochs)
    ("msg3d", "gcn"),                         # the method's named baselines against the stand-ins
    ("i3d", "rgb_only"),
]

# Choices made on val (evaluate's `protocol`): the candidates of each, and the question it answers.
LATE_FUSION_WEIGHTS = (0.5, 0.25, 0.75)  # the teacher's share; 0.5 (plain averaging) is the default
PROTOCOL_QUESTIONS = {
    "crychic_fused": "fusion rule / whose attention weights the student's features at test time",
    "late_fusion": "the teacher's weight in the averaged probabilities",
    "crychic_posefree_nokp": "how a clip is framed with no keypoints (centre square or whole frame)",
}
# Method -> the training stage whose metrics record its kept (best-val) epoch.
TRAINED_CHECKPOINTS = {"teacher": "train_teacher", "student_guided": "train_student", "crychic": "train_joint",
                       "rgb_only": "train_rgb_only", "gcn": "train_gcn", "msg3d": "train_msg3d",
                       "sta_lstm": "train_sta_lstm", "i3d": "train_i3d", "crychic_text": "train_text"}
