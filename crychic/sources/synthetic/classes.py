"""The action classes of the synthetic benchmark and what tells each one apart.

Classes come in groups. Within an *object-defined* group every class draws its keypoint
trajectory from one motion sampler (same calls, same distributions), so keypoints carry no
information about the class; only the object drawn at the hands does. Within the *motion-defined*
group no class holds an object and all share one appearance distribution, so only the motion
(including its temporal direction) tells them apart. No class depends on left versus right:
training flips clips horizontally, which must not change a label.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ActionClass:
    name: str
    label: int
    group: str
    motion: str  # key of the motion sampler in `crychic.sources.synthetic.motions.MOTIONS`
    held_object: str | None  # what `render` draws at the hands (None: nothing)
    distinguished_by: str  # one line for the benchmark card


HAND_TO_MOUTH = "hand_to_mouth"
AT_DESK = "at_desk"
MOTION = "motion"

# Groups told apart only by RGB (the held object); keypoints are identically distributed inside.
OBJECT_GROUPS: tuple[str, ...] = (HAND_TO_MOUTH, AT_DESK)
GROUPS: tuple[str, ...] = (HAND_TO_MOUTH, AT_DESK, MOTION)

_SPECS = (
    # name, group, motion, held object, distinguished by
    ("drink_from_cup", HAND_TO_MOUTH, "hand_to_mouth", "cup", "red cup in the hand (RGB only)"),
    ("eat_food", HAND_TO_MOUTH, "hand_to_mouth", "food", "green food item in the hand (RGB only)"),
    ("touch_mouth_empty_handed", HAND_TO_MOUTH, "hand_to_mouth", None, "nothing in the hand (RGB only)"),
    ("write_with_pen", AT_DESK, "at_desk", "pen", "magenta pen in one hand (RGB only)"),
    ("read_book", AT_DESK, "at_desk", "book", "open blue book on the desk (RGB only)"),
    ("type_on_keyboard", AT_DESK, "at_desk", "keyboard", "yellow keyboard on the desk (RGB only)"),
    ("wave", MOTION, "wave", None, "one raised hand swinging side to side"),
    ("clap", MOTION, "clap", None, "both hands meeting repeatedly in front of the chest"),
    ("raise_arms", MOTION, "raise_arms", None, "arms go from down to overhead (temporal direction)"),
    ("lower_arms", MOTION, "lower_arms", None, "arms go from overhead to down (raise_arms reversed)"),
    ("squat_down", MOTION, "squat_down", None, "standing to squatting (temporal direction)"),
    ("stand_up", MOTION, "stand_up", None, "squatting to standing (squat_down reversed)"),
)

CLASSES: tuple[ActionClass, ...] = tuple(
    ActionClass(name=name, label=label, group=group, motion=motion, held_object=obj, distinguished_by=why)
    for label, (name, group, motion, obj, why) in enumerate(_SPECS)
)


def classes_in_group(group: str) -> tuple[ActionClass, ...]:
    return tuple(c for c in CLASSES if c.group == group)


def class_groups(label_names: list[str]) -> dict[str, list[int]]:
    """Group -> labels, for the labels whose names are this benchmark's classes (evaluation reports
    a within-group accuracy: inside an object group only the RGB cue separates the classes)."""
    groups: dict[str, list[int]] = {}
    for action in CLASSES:
        if action.label < len(label_names) and label_names[action.label] == action.name:
            groups.setdefault(action.group, []).append(action.label)
    return groups
