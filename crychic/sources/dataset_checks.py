"""Can this dataset be trained and evaluated? Asked at ingest, before any expensive stage runs.

Every training stage fits on `train` and makes its choices on `val`; `evaluate` scores `test` once.
A dataset without one of them, with a single class, or with a class that has no training clip
cannot give a model or an honest figure, and finding that out after keypoint extraction (hours at
NTU scale) and deep inside a training loop wastes the user's day. So ingest reads the manifest
rows (`crychic.core.manifest.MANIFEST_SCHEMA`) and:

- stops on a *problem*: an empty split, fewer than two classes, a class with no training clip;
- warns on a class that lacks val or test clips only (the class is still learned, its figures are
  missing from that split; a user may want that), and the warning goes in the metrics;
- counts clips per class and split, and rejects per reason, for a person to read
  (`ClassSplitCounts`: {class name: {split: clips}}).

`data.preprocess_only: true` turns the problems into warnings, for a sample-sized dataset whose
preprocessing is being checked; the training stages still refuse an empty split
(`crychic.core.manifest.require_splits`).
"""

from __future__ import annotations

import collections
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from crychic.core.manifest import SPLITS

ClassSplitCounts = dict[str, dict[str, int]]


class DatasetError(ValueError):
    """A dataset the pipeline cannot train or evaluate; the message names the problem, the counts
    and what to do."""


@dataclass
class DatasetReport:
    clips: ClassSplitCounts  # class name -> split -> clips, classes in label order
    rejects_by_reason: dict[str, int]
    problems: list[str] = field(default_factory=list)  # each stops ingest
    warnings: list[str] = field(default_factory=list)  # each goes in the metrics; the run goes on
    advice: str = ""  # what to do about the problems, for this source

    def split_totals(self) -> dict[str, int]:
        return {split: sum(by_split[split] for by_split in self.clips.values()) for split in SPLITS}

    def error_message(self) -> str:
        lines = ["ingest: this dataset cannot be trained and evaluated:"]
        lines += [f"  - {problem}" for problem in self.problems]
        lines += [f"what to do: {self.advice}",
                  "(data.preprocess_only: true runs the preprocessing stages anyway; training refuses an empty split)"]
        return "\n".join(lines)


def class_split_counts(rows: Iterable[Mapping]) -> ClassSplitCounts:
    """{class name: {train, val, test: clips}} over the classes the rows hold, in label order."""
    names: dict[int, str] = {}
    counts: collections.Counter = collections.Counter()
    for row in rows:
        names[int(row["label"])] = row["label_name"]
        counts[int(row["label"]), row["split"]] += 1
    return {names[label]: {split: counts[label, split] for split in SPLITS} for label in sorted(names)}


def rejects_by_reason(rejects: Iterable[Mapping]) -> dict[str, int]:
    """Rejects counted per reason, the file name taken off ('x.mp4: empty file' -> 'empty file')."""
    counts: collections.Counter = collections.Counter()
    for reject in rejects:
        reason = str(reject["reason"])
        path = str(reject.get("path") or "")
        if path and reason.startswith(path + ": "):
            reason = reason[len(path) + 2 :]
        counts[re.sub(r"\s+", " ", reason).strip()] += 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def check_dataset(rows: list[dict], rejects: list[dict], data: Mapping[str, Any]) -> DatasetReport:
    """The checks of the module docstring on ingest's rows; `data` is params.yaml's `data` section."""
    clips = class_split_counts(rows)
    report = DatasetReport(clips=clips, rejects_by_reason=rejects_by_reason(rejects), advice=advice(data, rows))
    totals = report.split_totals()
    counts = ", ".join(f"{split} {totals[split]}" for split in SPLITS)
    for split in SPLITS:
        if totals[split] == 0:
            report.problems.append(f"split '{split}' is empty (clips per split: {counts}): {SPLIT_ROLE[split]}")
    if len(clips) < 2:
        report.problems.append(f"{len(clips)} class ({', '.join(map(repr, clips)) or 'none'}): a classifier "
                               "needs at least two")
    untrained = [name for name, by_split in clips.items() if by_split["train"] == 0]
    if untrained:
        report.problems.append(f"{len(untrained)} class(es) with no training clip: "
                               f"{_listed(untrained, clips)}")
    for split in ("val", "test"):
        lacking = [name for name, by_split in clips.items() if by_split[split] == 0 and by_split["train"] > 0]
        if lacking and totals[split] > 0:  # an empty split is a problem, said once above
            report.warnings.append(f"{len(lacking)} class(es) with no {split} clip (no {split} figure for "
                                   f"them): {_listed(lacking, clips)}")
    return report


SPLIT_ROLE = {
    "train": "the networks are fitted on train",
    "val": "every choice (kept epoch, fusion weight) is made on val, never on test",
    "test": "evaluate scores test, once",
}


def _listed(names: list[str], clips: ClassSplitCounts, most: int = 8) -> str:
    shown = [f"{name!r} ({', '.join(f'{s} {n}' for s, n in clips[name].items())})" for name in names[:most]]
    return "; ".join(shown) + (f"; and {len(names) - most} more" if len(names) > most else "")


def advice(data: Mapping[str, Any], rows: list[dict]) -> str:
    """What a user of this source can change, in its own settings' names."""
    source = data.get("source")
    if source == "folder":
        return ("add clips (a class needs at least 3 for a train, val and test share), raise "
                "data.folder.val_fraction / data.folder.test_fraction, or list val and test clips in "
                "data.folder.split_file")
    if source == "ntu":
        from crychic.sources.ntu import parse_ntu_name

        ntu = data.get("ntu") or {}
        protocol = ntu.get("protocol")
        field_name = {"xsub": "performer", "xview": "camera", "xset": "setup"}.get(protocol, "performer")
        present = {split: sorted({getattr(parse_ntu_name(r["sample_id"]), field_name) for r in rows
                                  if r["split"] == split}) for split in SPLITS}
        rule = {"xsub": "performers outside the protocol's training list test",
                "xview": "camera 1 tests, cameras 2 and 3 train",
                "xset": "odd setups test, even setups train"}.get(protocol, "")
        unit = "setups" if protocol == "xset" else "subjects"  # what val is carved from (ntu.VAL_UNIT)
        return (f"NTU {ntu.get('version')} {protocol} splits by {field_name} ({rule}); the {field_name}s here per "
                f"split: {present}. Add clips of the missing {field_name}s, set data.ntu.val_{unit} (how many "
                f"training {unit} become val), or use another protocol (data.ntu.protocol)")
    return "raise the dataset's size (data.synthetic) so that every split holds clips of every class"


def format_table(report: DatasetReport) -> str:
    """The class x split table and the rejects per reason, as ingest prints them."""
    width = max([len("class"), *map(len, report.clips)])
    lines = [f"{'class':<{width}}  " + "  ".join(f"{s:>5}" for s in SPLITS)]
    for name, by_split in report.clips.items():
        lines.append(f"{name:<{width}}  " + "  ".join(f"{by_split[s]:>5}" for s in SPLITS))
    totals = report.split_totals()
    lines.append(f"{'all':<{width}}  " + "  ".join(f"{totals[s]:>5}" for s in SPLITS))
    for reason, count in report.rejects_by_reason.items():
        lines.append(f"rejected {count}: {reason}")
    return "\n".join(lines)
