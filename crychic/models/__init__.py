"""CRYCHIC networks: the heatmap teacher, the RGB student, their attention and the joint model,
and the ST-GCN skeleton baseline on raw keypoints.

Importing the package registers every preset: ``create_model("posec3d_tiny", num_classes=12)``,
``list_models()``. Layouts are PyTorch video NCTHW: heatmaps ``N x K x T x H x W``, RGB
``N x 3 x T x H x W``; keypoints (ST-GCN, the names in ``GCN_MODELS``) ``N x C x T x V x M``.
"""

from crychic.models.attention import align_attention, attention_vectors, spatial_attention
from crychic.models.crychic_model import CrychicConfig, CrychicModel
from crychic.models.multiscale_temporal import MultiScaleTemporal
from crychic.models.registry import create_model, list_models, register_model
from crychic.models.stgcn import GCN_MODELS, STGCN, STGCNConfig
from crychic.models.student import Student, StudentConfig
from crychic.models.teacher import Teacher, TeacherConfig

__all__ = [
    "GCN_MODELS", "STGCN", "CrychicConfig", "CrychicModel", "MultiScaleTemporal", "STGCNConfig", "Student",
    "StudentConfig", "Teacher", "TeacherConfig", "align_attention", "attention_vectors", "create_model",
    "list_models", "register_model", "spatial_attention",
]
