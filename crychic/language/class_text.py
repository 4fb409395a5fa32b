"""What each class looks like, in words, and the cached class-text file the `embed_class_text` stage writes.

Layouts: ``label_names`` and the sentences are lists of length K, indexed by label (the manifest's
order, `crychic.core.manifest.read_label_names`); ``embeddings`` in `data/text/class_text.h5` is
``K x E`` float32 with unit-norm rows, row k embedding class k.

The text embedded for class k is ``f"{readable_name(name)}: {sentence}"`` (`class_texts`): the bare
name alone is ambiguous to a sentence encoder ("wave" the gesture or the sea) and the sentence
alone drops the short handle a user would type, so both go in. The synthetic benchmark's classes
get hand-written sentences that describe what a viewer sees (the coloured object in the hand,
the direction of a motion), never how the benchmark tells them apart or their label ids. Any
other dataset (NTU's "drink water", a folder name like "jumping_jacks") falls back to
"a person <name>", which reads as a caption for every action-verb name we have seen.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

SYNTHETIC_SENTENCES: dict[str, str] = {
    "drink_from_cup": "a person lifts a red cup to the mouth and drinks",
    "eat_food": "a person brings a piece of green food to the mouth and eats it",
    "touch_mouth_empty_handed": "a person raises an empty hand to the mouth and touches the lips",
    "write_with_pen": "a person leans over a desk and writes with a magenta pen",
    "read_book": "a person leans over a desk and reads an open blue book",
    "type_on_keyboard": "a person leans over a desk and types on a yellow keyboard",
    "wave": "a person raises one hand and waves it from side to side",
    "clap": "a person claps, bringing both hands together in front of the chest again and again",
    "raise_arms": "a person lifts both arms from the sides up above the head",
    "lower_arms": "a person brings both arms down from above the head to the sides",
    "squat_down": "a person standing upright bends the knees and squats down",
    "stand_up": "a person crouching low straightens the legs and stands up",
}

DATASETS = ("embeddings", "label_names", "sentences")


def readable_name(name: str) -> str:
    """Folder and synthetic names use underscores; the encoder's vocabulary has words."""
    return " ".join(name.replace("_", " ").split()).lower()


def class_sentences(label_names: list[str]) -> list[str]:
    """One sentence per class, hand-written for the synthetic benchmark, "a person <name>" otherwise."""
    return [SYNTHETIC_SENTENCES.get(name, f"a person {readable_name(name)}") for name in label_names]


def class_texts(label_names: list[str]) -> list[str]:
    """The strings actually embedded: "<readable name>: <sentence>" (see the module docstring)."""
    return [f"{readable_name(name)}: {sentence}" for name, sentence in zip(label_names, class_sentences(label_names))]


def read_class_text(path: str | Path) -> tuple[np.ndarray, list[str], list[str]]:
    """(embeddings K x E float32, label_names, sentences) from the `embed_class_text` stage's file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: class-text embeddings not found (run the embed_class_text stage first)")
    with h5py.File(path, "r") as f:
        if not bool(f.attrs.get("enabled", True)):  # embed_class_text's marker (research.text_anchor off)
            raise ValueError(f"{path}: a marker, not class-text embeddings ({f.attrs.get('reason', 'nothing embedded')})")
        missing = [name for name in DATASETS if name not in f]
        if missing:
            raise KeyError(f"{path}: not a class-text file, missing datasets {missing}")
        embeddings = np.asarray(f["embeddings"][()], dtype=np.float32)
        label_names = [s.decode("utf-8") if isinstance(s, bytes) else str(s) for s in f["label_names"][()]]
        sentences = [s.decode("utf-8") if isinstance(s, bytes) else str(s) for s in f["sentences"][()]]
    if embeddings.ndim != 2 or not (embeddings.shape[0] == len(label_names) == len(sentences)):
        raise ValueError(f"{path}: embeddings {embeddings.shape} do not match {len(label_names)} label names "
                         f"and {len(sentences)} sentences")
    return embeddings, label_names, sentences
