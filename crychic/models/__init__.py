"""CRYCHIC networks: the heatmap teacher, the RGB student, their attention and the joint model,
and the baselines: ST-GCN, MS-G3D and STA-LSTM on raw keypoints, I3D on RGB.

Importing the package registers every preset: ``create_model("posec3d_tiny", num_classes=12)``,
``list_models()``. Layouts are PyTorch video NCTHW: heatmaps ``N x K x T x H x W``, RGB
``N x 3 x T x H x W``; keypoints (ST-GCN, the names in ``GCN_MODELS``; all keypoint networks:
``KEYPOINT_MODELS``) ``N x C x T x V x M``. ``MODEL_FAMILIES`` sorts every registered name by the
network it builds: what each params.yaml key that names a model may name (`crychic.core.params_schema`).
"""

from crychic.models.attention import align_attention, attention_vectors, spatial_attention
from crychic.models.crychic_model import CrychicConfig, CrychicModel
from crychic.models.i3d import I3D, I3D_MODELS, I3DConfig, inflate_2d_weights
from crychic.models.msg3d import MSG3D, MSG3D_MODELS, MSG3DConfig
from crychic.models.multiscale import MultiScaleScales, MultiScaleSpatioTemporal
from crychic.models.registry import create_model, list_models, register_model
from crychic.models.sta_lstm import STA_LSTM_MODELS, STALSTM, STALSTMConfig
from crychic.models.stgcn import GCN_MODELS, STGCN, STGCNConfig
from crychic.models.student import STUDENT_MODELS, Student, StudentConfig
from crychic.models.teacher import TEACHER_MODELS, Teacher, TeacherConfig

KEYPOINT_MODELS = GCN_MODELS + MSG3D_MODELS + STA_LSTM_MODELS  # every network on N x C x T x V x M keypoints
# Family -> its registered names (tests/test_params_schema.py: every registered name is in exactly one family).
MODEL_FAMILIES = {"teacher": TEACHER_MODELS, "student": STUDENT_MODELS, "gcn": GCN_MODELS, "msg3d": MSG3D_MODELS,
                  "sta_lstm": STA_LSTM_MODELS, "i3d": I3D_MODELS}

__all__ = [
    "GCN_MODELS", "I3D", "I3D_MODELS", "KEYPOINT_MODELS", "MODEL_FAMILIES", "MSG3D", "MSG3D_MODELS", "STALSTM",
    "STA_LSTM_MODELS", "STUDENT_MODELS", "TEACHER_MODELS",
    "STGCN", "CrychicConfig", "CrychicModel", "I3DConfig", "MSG3DConfig", "MultiScaleScales", "MultiScaleSpatioTemporal", "STALSTMConfig",
    "STGCNConfig", "Student", "StudentConfig", "Teacher", "TeacherConfig", "align_attention", "attention_vectors",
    "create_model", "inflate_2d_weights", "list_models", "register_model", "spatial_attention",
]
