"""Language as a third modality: one sentence per class, embedded offline, as text anchors.

Layouts: class embeddings are ``K x E`` (K classes in label order, E text dims, 384 for MiniLM);
the loss that anchors ``N x E`` features to them is `crychic.losses.text_anchor`. Importing this package is cheap:
the text encoder (sentence-transformers, torch) loads only when `encode_texts` is first called.
"""

from crychic.language.class_text import class_sentences, class_texts, read_class_text, readable_name
from crychic.language.text_encoder import TEXT_ENCODER, encode_texts

__all__ = [
    "TEXT_ENCODER",
    "class_sentences",
    "class_texts",
    "encode_texts",
    "read_class_text",
    "readable_name",
]
