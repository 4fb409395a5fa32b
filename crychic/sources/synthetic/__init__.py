"""The built-in synthetic action benchmark: articulated figures rendered into real mp4 files.

It exists to show the method's point on a fresh machine with no download: in the object-defined
groups keypoints are identically distributed across classes and only RGB (the held object)
separates them; in the motion-defined group only the motion does, under appearance nuisance.
See `classes` for the class list, `generate` for the on-disk layout.
"""

from crychic.sources.synthetic.classes import CLASSES, GROUPS, OBJECT_GROUPS, ActionClass, classes_in_group
from crychic.sources.synthetic.generate import (SyntheticClip, SyntheticConfig, generate_clip, generate_dataset,
                                        sample_id, subject_split)

__all__ = [
    "CLASSES", "GROUPS", "OBJECT_GROUPS", "ActionClass", "classes_in_group", "SyntheticClip", "SyntheticConfig",
    "generate_clip", "generate_dataset", "sample_id", "subject_split",
]
