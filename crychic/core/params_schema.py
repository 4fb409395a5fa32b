"""The schema of `params.yaml`: the type, range or choices of every setting, checked before any work.

Why: a bad setting used to fail deep inside a library, or worse, pass. `train.teacher.epochs: 0`
wrote an untrained teacher that every later stage used; `heatmap.sigma: -1` died in numba,
`rgb.size: -5` rejected every video as if the files were broken. `crychic.core.params.select`,
which every stage calls first, checks each value it hands out against `RULES` and stops the
stage with the key, the value and what is allowed:

    params.yaml: train.teacher.epochs = 0: must be an integer >= 1

How it is written: one table, dotted key -> rule, in params.yaml's order, each rule a small
object that says what it allows (`Integer(ge=1)`, `Number(gt=0)`, `Choice("adamw", "sgd")`,
`nullable=True` where null means "none" or "off"). A plain table rather than pydantic models:
stages read parts of sections (`train.joint.epochs` alone), the rules are scalar ranges and
choices that one line each states, and the messages are the ones above. Rules check one value
each; settings that constrain each other are left to the code that uses them (the synthetic
subjects must leave a training one: `SyntheticConfig`; the folder split's fractions sum below 1:
`crychic.sources.folder`).

Choices copied from the code that acts on them (`data.source`, `model.fusion`, ...) are kept in
step with it by tests/test_params_schema.py. Model names are not copied: `ModelName` reads the
model registry (`crychic.models.MODEL_FAMILIES`, the registered names of each kind of network)
when a stage selects such a key. It imports `crychic.models` by name at that moment, not with an
import statement: crychic/core is the lowest package and a DVC dependency of every stage, and
tests/test_dvc_deps.py follows import statements, so a plain import would make ingest depend on
the networks (and torch). Only the training and evaluate stages select model keys, and they list
crychic/models among their deps (a test checks that too).

tests/test_params_schema.py also checks that every key of params.yaml and of presets/*.yaml has
a rule, and every rule a key; a key without a rule is a test failure, never a run-time error.
"""

from __future__ import annotations

import importlib
import json
import math
import re
from typing import Any


class ParamsError(ValueError):
    """Settings that break the schema; `problems` holds one line per bad key ('key = value: must be ...')."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(f"params.yaml: {problems[0]}" if len(problems) == 1 else
                         f"params.yaml: {len(problems)} invalid settings:\n  " + "\n  ".join(problems))


class Rule:
    """What one setting allows. Subclasses say it in words (`allowed`) and check it (`accepts`)."""

    def __init__(self, nullable: bool = False):
        self.nullable = nullable

    def allowed(self) -> str:
        raise NotImplementedError

    def accepts(self, value: Any) -> bool:
        raise NotImplementedError

    def problem(self, value: Any) -> str | None:
        """None when `value` is allowed, else what is: 'must be an integer >= 1'."""
        if (value is None and self.nullable) or (value is not None and self.accepts(value)):
            return None
        hint = ""
        if isinstance(value, str) and _looks_numeric(value):  # PyYAML reads 1e-3 (no dot) as text
            hint = " (YAML read it as text: write numbers unquoted, exponents with a dot: 1.0e-3)"
        return f"must be {self.allowed()}{' or null' if self.nullable else ''}{hint}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _bounds(gt, ge, lt, le) -> str:
    parts = [f"{sign} {bound}" for sign, bound in ((">", gt), (">=", ge), ("<", lt), ("<=", le)) if bound is not None]
    return " and ".join(parts)


class Number(Rule):
    """A finite int or float within the given bounds (gt: >, ge: >=, lt: <, le: <=)."""

    def __init__(self, *, gt: float | None = None, ge: float | None = None, lt: float | None = None,
                 le: float | None = None, nullable: bool = False):
        super().__init__(nullable)
        self.gt, self.ge, self.lt, self.le = gt, ge, lt, le

    def allowed(self) -> str:
        return " ".join(["a number", _bounds(self.gt, self.ge, self.lt, self.le)]).strip()

    def accepts(self, value: Any) -> bool:
        return _is_number(value) and all((
            self.gt is None or value > self.gt, self.ge is None or value >= self.ge,
            self.lt is None or value < self.lt, self.le is None or value <= self.le))


class Integer(Number):
    """An int (not a bool, not 16.0) within the bounds."""

    def allowed(self) -> str:
        return " ".join(["an integer", _bounds(self.gt, self.ge, self.lt, self.le)]).strip()

    def accepts(self, value: Any) -> bool:
        return isinstance(value, int) and super().accepts(value)


class Fraction(Number):
    """A share: a number from 0 to 1 (both included unless `below_one`)."""

    def __init__(self, *, below_one: bool = False, nullable: bool = False):
        super().__init__(ge=0, **({"lt": 1} if below_one else {"le": 1}), nullable=nullable)


class Boolean(Rule):
    def allowed(self) -> str:
        return "true or false"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)


class Text(Rule):
    """A non-empty string, e.g. a path."""

    def __init__(self, what: str = "a non-empty string", *, nullable: bool = False):
        super().__init__(nullable)
        self.what = what

    def allowed(self) -> str:
        return self.what

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and value.strip() != ""


class Choice(Rule):
    def __init__(self, *options: str, nullable: bool = False):
        super().__init__(nullable)
        self.options = options

    def allowed(self) -> str:
        return "one of: " + ", ".join(self.options)

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.options


class Pattern(Rule):
    """A string matching `regex` in full; `what` says it in words."""

    def __init__(self, regex: str, what: str, *, nullable: bool = False):
        super().__init__(nullable)
        self.regex, self.what = re.compile(regex), what

    def allowed(self) -> str:
        return self.what

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and self.regex.fullmatch(value) is not None


class NumberList(Rule):
    """A non-empty list whose every item `item` accepts."""

    def __init__(self, item: Number, *, nullable: bool = False):
        super().__init__(nullable)
        self.item = item

    def allowed(self) -> str:
        return f"a non-empty list, each item {self.item.allowed()}"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, list) and bool(value) and all(self.item.accepts(v) for v in value)


class ModelName(Rule):
    """A registered model of one family (`crychic.models.MODEL_FAMILIES`): read from the registry
    when checked (the module docstring says why by name)."""

    def __init__(self, family: str):
        super().__init__(nullable=False)
        self.family = family

    def names(self) -> list[str]:
        models = importlib.import_module("crychic.models")
        return [name for name in models.list_models() if name in models.MODEL_FAMILIES[self.family]]

    def allowed(self) -> str:
        return f"a registered {self.family} model, one of: " + ", ".join(self.names())

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.names()


# ---------------------------------------------------------------- the schema: dotted key -> rule

PATH = "a path (text)"
EPOCHS, LEARNING_RATE, WEIGHT_DECAY = Integer(ge=1), Number(gt=0), Number(ge=0)
OPTIMIZER = Choice("adamw", "sgd")  # crychic.training.loop.make_optimizer: SGD for "sgd", else AdamW
MOMENTUM = Number(ge=0, lt=1)

RULES: dict[str, Rule] = {
    "seed": Integer(ge=0),
    # data (crychic.sources.ingest.SOURCES, crychic.sources.ntu.PROTOCOLS)
    "data.source": Choice("synthetic", "ntu", "folder"),
    "data.root": Text(PATH, nullable=True),
    "data.seed": Integer(ge=0),
    "data.probe_videos": Boolean(),
    "data.preprocess_only": Boolean(),
    # crychic.sources.synthetic.generate.SyntheticConfig (which also checks the subjects leave a training one)
    "data.synthetic.num_subjects": Integer(ge=1),
    "data.synthetic.val_subjects": Integer(ge=0),
    "data.synthetic.test_subjects": Integer(ge=0),
    "data.synthetic.clips_per_subject": Integer(ge=1),
    "data.synthetic.num_frames": Integer(ge=2),
    "data.synthetic.height": Integer(ge=32),
    "data.synthetic.width": Integer(ge=32),
    "data.synthetic.fps": Integer(ge=1),
    "data.ntu.version": Choice("ntu60", "ntu120"),
    "data.ntu.protocol": Choice("xsub", "xview", "xset"),  # which versions allow which: crychic.sources.ntu
    "data.ntu.skeleton_root": Text(PATH, nullable=True),
    "data.ntu.val_subjects": Integer(ge=0),
    "data.ntu.val_setups": Integer(ge=0),
    "data.folder.split_file": Text(PATH, nullable=True),
    "data.folder.val_fraction": Fraction(below_one=True),  # with test_fraction: sum below 1 (crychic.sources.folder)
    "data.folder.test_fraction": Fraction(below_one=True),
    # keypoints (crychic.keypoints.extraction.KEYPOINT_SOURCES)
    "keypoints.source": Choice("auto", "annotations", "ntu", "pyskl", "mediapipe"),
    "keypoints.pyskl_file": Text(PATH, nullable=True),
    "keypoints.max_persons": Integer(ge=1),
    "keypoints.mediapipe_frame_size": Integer(ge=1, nullable=True),  # null: decode at full size
    "keypoints.mediapipe_min_visibility": Fraction(),
    "keypoints.max_reject_fraction": Fraction(),
    "keypoints.min_decoded_fraction": Fraction(),
    # heatmap volumes and the clip plan's boxes (crychic.clips.plan)
    "heatmap.clip_len": Integer(ge=1),
    "heatmap.box_padding": Number(ge=0),
    "heatmap.train_box_scale": Number(ge=1),  # boxes grown by a factor in [1, scale]
    "heatmap.train_box_shift": Number(ge=0),
    "heatmap.train_box_jitter_share": Fraction(),
    "heatmap.size": Integer(ge=1),
    "heatmap.sigma": Number(gt=0),
    "heatmap.with_joint": Boolean(),
    "heatmap.with_limb": Boolean(),
    "heatmap.shard_size": Integer(ge=1),
    # RGB clips
    "rgb.clip_len": Integer(ge=1),
    "rgb.size": Integer(ge=1),
    "rgb.decode_max_side": Integer(ge=1, nullable=True),  # null: decode at full size
    "rgb.shard_size": Integer(ge=1),
    "rgb.max_reject_fraction": Fraction(),
    # the CRYCHIC model (crychic.models.crychic_model: FUSIONS, GUIDANCE_SOURCES)
    "model.teacher": ModelName("teacher"),
    "model.student": ModelName("student"),
    "model.embed_dim": Integer(ge=1),
    "model.multiscale": Boolean(),
    "model.attention_guidance": Boolean(),
    "model.attention_p": Number(gt=0),
    "model.detach_guidance": Boolean(),
    "model.guidance_dropout": Fraction(),
    "model.fusion": Choice("concat_ensemble", "concat"),
    "model.fusion_dropout": Fraction(below_one=True),
    "model.guidance_source": Choice("teacher", "keypoints", "hands", "uniform"),
    "model.residual_fusion": Boolean(),
    # training (crychic.core.devices.resolve_device takes any torch device name of these forms)
    "train.device": Pattern(r"auto|cpu|cuda(:\d+)?", "one of: auto, cpu, cuda, cuda:<index>"),
    "train.amp": Boolean(),
    "train.batch_size": Integer(ge=1),
    "train.teacher.epochs": EPOCHS,
    "train.teacher.lr": LEARNING_RATE,
    "train.teacher.weight_decay": WEIGHT_DECAY,
    "train.teacher.optimizer": OPTIMIZER,
    "train.teacher.momentum": MOMENTUM,
    "train.student.epochs": EPOCHS,
    "train.student.lr": LEARNING_RATE,
    "train.student.weight_decay": WEIGHT_DECAY,
    "train.student.optimizer": OPTIMIZER,
    "train.student.momentum": MOMENTUM,
    "train.student.warmup_epochs": Integer(ge=0),
    "train.rgb_only.lr_scale": Number(gt=0),
    "train.rgb_only.epochs": EPOCHS,
    "train.joint.epochs": EPOCHS,
    "train.joint.lr": LEARNING_RATE,
    "train.joint.weight_decay": WEIGHT_DECAY,
    "train.joint.optimizer": OPTIMIZER,
    "train.joint.momentum": MOMENTUM,
    "train.joint.teacher_lr_scale": Number(ge=0),
    "train.joint.student_lr_scale": Number(ge=0),
    "train.joint.warmup_epochs": Integer(ge=0),
    "train.joint.from_scratch": Boolean(),
    # loss weights (0 switches a term off)
    "loss.attention_weight": Number(ge=0),
    "loss.contrastive_weight": Number(ge=0),
    "loss.temperature": Number(gt=0),
    "loss.fr_head_weight": Number(ge=0),
    "loss.fr_head_multilevel": Boolean(),
    "loss.confidence_gating": Boolean(),
    "loss.text_weight": Number(ge=0),
    # the single-network baselines
    "gcn.model": ModelName("gcn"),
    "gcn.epochs": EPOCHS,
    "gcn.lr": LEARNING_RATE,
    "gcn.weight_decay": WEIGHT_DECAY,
    "msg3d.model": ModelName("msg3d"),
    "msg3d.epochs": EPOCHS,
    "msg3d.lr": LEARNING_RATE,
    "msg3d.weight_decay": WEIGHT_DECAY,
    "sta_lstm.model": ModelName("sta_lstm"),
    "sta_lstm.epochs": EPOCHS,
    "sta_lstm.lr": LEARNING_RATE,
    "sta_lstm.weight_decay": WEIGHT_DECAY,
    "i3d.model": ModelName("i3d"),
    "i3d.epochs": EPOCHS,
    "i3d.lr": LEARNING_RATE,
    "i3d.weight_decay": WEIGHT_DECAY,
    "i3d.warmup_epochs": Integer(ge=0),
    "i3d.optimizer": OPTIMIZER,
    "i3d.momentum": MOMENTUM,
    "colour_cue.c_grid": NumberList(Number(gt=0)),
    "colour_cue.hue_bins": Integer(ge=1),
    # evaluate
    "evaluate.split": Choice("test", "val"),
    "evaluate.batch_size": Integer(ge=1),
    "evaluate.attention_clips": Integer(ge=0),
    "evaluate.end_to_end_clips": Integer(ge=0),  # 0 skips the end-to-end timing (the research sweep)
    "evaluate.latency_repeats": Integer(ge=1),
    "evaluate.throughput_batch": Integer(ge=1),
    "evaluate.bootstrap_resamples": Integer(ge=1),
    # research-only data (crychic.rgb.decode.FRAMINGS)
    "research.deployment_framing": Boolean(),
    "research.framing": Choice("centre", "full"),
    "research.text_anchor": Boolean(),
}


def _shown(value: Any) -> str:
    """A value as it reads in YAML: 0, -1.5, null, true, "resnet99"."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def problems(leaves: dict[str, Any]) -> list[str]:
    """One line per leaf ({dotted key: value}) its rule rejects: 'key = value: must be ...'.
    A leaf without a rule is skipped (the test that every params.yaml key has one keeps them
    covered), unless it sits below a key that has one (a mapping where a value belongs) or
    stands where a section belongs (a value where a mapping of settings belongs)."""
    found = []
    for key, value in leaves.items():
        rule = RULES.get(key)
        if rule is None:
            parents = [".".join(key.split(".")[:i]) for i in range(1, key.count(".") + 1)]
            parent = next((p for p in parents if p in RULES), None)
            if parent is not None:
                found.append(f"{parent} is a mapping: must be {RULES[parent].allowed()}")
            elif any(known.startswith(f"{key}.") for known in RULES):
                found.append(f"{key} = {_shown(value)}: must be a section (a mapping of its settings)")
            continue
        problem = rule.problem(value)
        if problem:
            found.append(f"{key} = {_shown(value)}: {problem}")
    return list(dict.fromkeys(found))  # a mapping under a rule's key: named once


def check(leaves: dict[str, Any]) -> None:
    """Raise `ParamsError` naming every leaf its rule rejects."""
    found = problems(leaves)
    if found:
        raise ParamsError(found)
