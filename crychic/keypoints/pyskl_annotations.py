"""PYSKL annotation pickles (e.g. ``ntu60_hrnet.pkl``): 2D COCO-17 keypoints per sample.

Layouts: the pickle holds ``{'split': {name: [frame_dir, ...]}, 'annotations': [ann, ...]}``, each
``ann`` a dict with ``frame_dir`` (the sample id), ``label``, ``img_shape`` and ``original_shape``
((H, W)), ``total_frames`` (T), ``keypoint`` ``M x T x V x 2`` and ``keypoint_score`` ``M x T x V``
with V = 17 in COCO-17 order. ``annotation_to_keypoints`` returns ``M x T x 17 x 3`` float32
(x, y, score) in the pixel frame of ``img_shape``, which is the frame of the video PYSKL decoded.

A plain pickle runs whatever code the file names when it is loaded, so these files are read by
`AnnotationUnpickler`, which builds only what an annotation file holds (NumPy arrays and scalars,
numbers, strings, bytes, lists, tuples, sets, dicts) and refuses, before anything runs, a file that
asks for any other global (a function to call, a class to build): `KeypointSourceError` naming the
file and the refused global.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import NoReturn

import numpy as np

from crychic.core.coco17 import NUM_JOINTS
from crychic.keypoints import KeypointSourceError

# The globals an annotation pickle may name (module, name): NumPy's array and scalar rebuilders
# (numpy.core in NumPy 1, numpy._core in 2; _frombuffer from protocol 5 on) and, in protocol 2
# pickles (mmcv's default, which PYSKL used), sets and bytes (`_codecs.encode`).
ALLOWED_GLOBALS = frozenset({
    *((f"numpy.{core}.multiarray", name) for core in ("core", "_core") for name in ("_reconstruct", "scalar")),
    *((f"numpy.{core}.numeric", "_frombuffer") for core in ("core", "_core")),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("builtins", "set"), ("builtins", "frozenset"), ("__builtin__", "set"), ("__builtin__", "frozenset"),
    ("_codecs", "encode"),
})
REQUIRED_FIELDS = ("frame_dir", "label", "img_shape", "total_frames", "keypoint", "keypoint_score")


def read_pyskl_annotations(path: str | Path) -> tuple[dict[str, list[str]], list[dict]]:
    """(split name -> sample ids, annotations), every annotation validated.

    Validation happens here, once, so that a stage consuming the annotations can trust their
    shapes. Raises ``KeypointSourceError`` naming the file, the sample and the field at fault.
    """
    path = Path(path)
    try:
        with path.open("rb") as file:
            content = AnnotationUnpickler(file, path.name).load()
    except KeypointSourceError:
        raise
    except Exception as error:  # unpickling garbage can raise almost anything
        raise KeypointSourceError(f"{path.name}: not a readable pickle: {error!r}") from None
    if not isinstance(content, dict) or not {"split", "annotations"} <= content.keys():
        raise KeypointSourceError(f"{path.name}: expected a dict with 'split' and 'annotations'")
    split, annotations = content["split"], content["annotations"]
    if not isinstance(split, dict) or not all(
        isinstance(ids, (list, tuple)) and all(isinstance(i, str) for i in ids) for ids in split.values()
    ):
        raise KeypointSourceError(f"{path.name}: 'split' must map split names to lists of sample ids (str)")
    if not isinstance(annotations, (list, tuple)):
        raise KeypointSourceError(f"{path.name}: 'annotations' must be a list, got {type(annotations).__name__}")

    seen_ids: set[str] = set()
    for position, ann in enumerate(annotations):
        _validate_annotation(path.name, position, ann)
        if ann["frame_dir"] in seen_ids:
            raise KeypointSourceError(f"{path.name}: sample {ann['frame_dir']!r}: frame_dir appears twice")
        seen_ids.add(ann["frame_dir"])
    return {name: list(ids) for name, ids in split.items()}, list(annotations)


class AnnotationUnpickler(pickle.Unpickler):
    """An unpickler that resolves only `ALLOWED_GLOBALS`: any other global a file names (where a
    hostile pickle keeps its code) is refused before it is looked up, so nothing of it runs."""

    def __init__(self, file, file_name: str):
        super().__init__(file)
        self.file_name = file_name

    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED_GLOBALS:
            raise KeypointSourceError(
                f"{self.file_name}: refused: the pickle asks for {module}.{name}; a PYSKL annotation file holds "
                "only arrays, numbers, strings, lists and dicts, so this file is not one (or was tampered with)")
        return super().find_class(module, name)


def _validate_annotation(file_name: str, position: int, ann: object) -> None:
    if not isinstance(ann, dict):
        raise KeypointSourceError(f"{file_name}: annotation #{position}: not a dict")
    sample = repr(ann.get("frame_dir", f"#{position}"))

    def fail(field: str, problem: str) -> NoReturn:
        raise KeypointSourceError(f"{file_name}: sample {sample}: field '{field}': {problem}")

    for field in REQUIRED_FIELDS:
        if field not in ann:
            fail(field, "missing")
    if not isinstance(ann["frame_dir"], str):
        fail("frame_dir", f"expected a str, got {type(ann['frame_dir']).__name__}")
    if not isinstance(ann["label"], (int, np.integer)):
        fail("label", f"expected an int, got {type(ann['label']).__name__}")
    for field in ("img_shape", "original_shape"):
        shape = ann.get(field, (1, 1))  # original_shape is informative only; img_shape is required
        if len(np.shape(shape)) != 1 or len(shape) != 2 or not all(isinstance(s, (int, np.integer)) and s > 0 for s in shape):
            fail(field, f"expected (height, width) positive ints, got {shape!r}")
    total_frames = ann["total_frames"]
    if not isinstance(total_frames, (int, np.integer)) or total_frames < 1:
        fail("total_frames", f"expected a positive int, got {total_frames!r}")

    keypoint, keypoint_score = ann["keypoint"], ann["keypoint_score"]
    if not isinstance(keypoint, np.ndarray) or keypoint.ndim != 4 or keypoint.shape[-1] != 2:
        fail("keypoint", f"expected an M x T x V x 2 array, got shape {np.shape(keypoint)}")
    if keypoint.shape[2] != NUM_JOINTS:
        fail("keypoint", f"expected V = {NUM_JOINTS} COCO joints, got {keypoint.shape[2]} (shape {keypoint.shape})")
    if keypoint.shape[1] != total_frames:
        fail("keypoint", f"has {keypoint.shape[1]} frames but total_frames is {total_frames}")
    if not isinstance(keypoint_score, np.ndarray) or keypoint_score.shape != keypoint.shape[:3]:
        fail("keypoint_score", f"expected shape {keypoint.shape[:3]} (M x T x V), got {np.shape(keypoint_score)}")
    if not (np.issubdtype(keypoint.dtype, np.number) and np.issubdtype(keypoint_score.dtype, np.number)):
        fail("keypoint", "arrays must be numeric")


def annotation_to_keypoints(ann: dict) -> np.ndarray:
    """``M x T x 17 x 3`` float32 (x, y, score) from one validated annotation.

    Joints with score 0 get x = y = 0, the convention every keypoint source here follows.
    """
    xy = np.asarray(ann["keypoint"], dtype=np.float32)  # M x T x 17 x 2 (PYSKL may store float16)
    score = np.asarray(ann["keypoint_score"], dtype=np.float32)[..., None]  # M x T x 17 x 1
    return np.concatenate([np.where(score > 0, xy, 0), score], axis=-1)
