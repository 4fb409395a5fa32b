"""Resume points: a training loop stopped after any epoch ends, resumed, exactly where an
uninterrupted one does; finished shards kept beside an out folder are reused only under their
token. (Killing the real stages: tests/test_dvc_pipeline.py.)"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from crychic.core.partial_shards import PartialShards, input_token
from crychic.training.data import make_loader
from crychic.training.loop import TIMING_KEYS, fit
from crychic.training.resume import ResumePoint


class Points(torch.utils.data.Dataset):
    """Two noisy clusters; `set_epoch` is what `fit` calls on a CRYCHIC dataset."""

    def __init__(self):
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(40, 6, generator=generator) + torch.arange(40)[:, None] % 2
        self.y = torch.arange(40) % 2

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict:
        return {"x": self.x[index], "label": self.y[index]}

    def set_epoch(self, epoch: int) -> None:
        pass


class Stop(Exception):
    pass


class RunningMean(nn.Module):
    """A loss with state of its own (as FR-Head's prototypes are), which a resume must restore."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.zeros(()))

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        loss = nn.functional.cross_entropy(logits, labels)
        self.mean.mul_(0.5).add_(0.5 * loss.detach())
        return loss + 0.1 * self.mean


def train(resume: ResumePoint | None, stop_after: int | None = None, epochs: int = 5):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Dropout(0.3), nn.Linear(16, 2))  # dropout: the torch RNG matters
    loss_fn = RunningMean()
    loader = make_loader(Points(), batch_size=8, shuffle=True, workers=0, seed=3, drop_last=True)
    val_loader = make_loader(Points(), batch_size=8, shuffle=False, workers=0, seed=3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * len(loader))

    def validate() -> dict:
        model.eval()
        with torch.no_grad():
            correct = sum(int((model(b["x"]).argmax(1) == b["label"]).sum()) for b in val_loader)
        return {"val": {"top1": correct / 40, "top5": 1.0, "mean_class_accuracy": correct / 40}}

    def on_epoch(epoch: int, row: dict) -> None:
        replayed.append(epoch)
        if stop_after is not None and epoch == stop_after:
            raise Stop  # after the epoch's resume point is saved, as a kill there would be

    replayed: list[int] = []
    fitted = fit(model, train_loader=loader, optimizer=optimizer, scheduler=scheduler, epochs=epochs,
                 loss_on_batch=lambda b: (lambda loss: (loss, {"loss": loss.detach()}))(loss_fn(model(b["x"]), b["label"])),
                 validate=validate, name="toy", on_epoch=on_epoch, resume=resume, loss_state=loss_fn)
    return fitted, model, loss_fn, replayed


@pytest.mark.parametrize("stop_after", [0, 2, 4])
def test_a_loop_stopped_after_any_epoch_resumes_to_the_uninterrupted_result(tmp_path, stop_after, capsys):
    whole, whole_model, whole_loss, _ = train(resume=None)
    point = ResumePoint.beside(tmp_path / "toy.pt", token="t1")
    with pytest.raises(Stop):
        train(point, stop_after=stop_after)
    assert point.path == tmp_path / ".toy-partial" / "resume.pt" and point.path.is_file()
    resumed, model, loss_fn, replayed = train(point)
    assert f"[toy] resumed after epoch {stop_after + 1} of 5" in capsys.readouterr().out
    assert replayed == list(range(5))  # the saved epochs replayed to on_epoch (MLflow), then the rest
    assert [row["epoch"] for row in resumed.history] == list(range(5))
    def strip(history: list[dict]) -> list[dict]:
        return [{k: v for k, v in row.items() if k not in TIMING_KEYS} for row in history]

    assert strip(resumed.history) == strip(whole.history)
    assert resumed.best_epoch == whole.best_epoch
    for key, value in whole_model.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    assert torch.equal(loss_fn.mean, whole_loss.mean)


def test_a_point_saved_under_another_token_is_not_resumed_from(tmp_path, capsys):
    with pytest.raises(Stop):
        train(ResumePoint.beside(tmp_path / "toy.pt", token="params-a"), stop_after=1)
    _, _, _, replayed = train(ResumePoint.beside(tmp_path / "toy.pt", token="params-b"))
    printed = capsys.readouterr().out
    assert replayed == list(range(5)) and "other params or inputs" in printed and "[toy] resumed" not in printed
    point = ResumePoint.beside(tmp_path / "toy.pt", token="params-b")
    point.clear(every_rank=True)
    assert not point.path.parent.exists()


def test_partial_shards_keep_finished_chunks_under_their_token_only(tmp_path):
    out = tmp_path / "rgb"
    token = input_token({"size": 32}, [])
    partial = PartialShards(out, token, suffix=".arrow")
    assert partial.dir == tmp_path / ".rgb-partial" and partial.resumed == 0
    for chunk, records in enumerate([3, 0, 2]):
        if records:
            partial.shard_path(chunk).write_bytes(f"shard {chunk}".encode())
        partial.commit(chunk, {"records": records, "rejects": [] if records else [{"sample_id": "s1"}]})
    partial.shard_path(3).write_bytes(b"written, never committed")
    (partial.dir / ".chunk-00004.arrow.abc.tmp").write_bytes(b"half")
    with pytest.raises(FileNotFoundError, match="chunk-00005"):
        partial.commit(5, {"records": 1})

    again = PartialShards(out, token, suffix=".arrow")
    assert again.resumed == 3 and again.done(1) == {"records": 0, "rejects": [{"sample_id": "s1"}]}
    assert again.done(3) is None and not list(again.dir.glob(".*.tmp"))
    with pytest.raises(RuntimeError, match=r"chunks \[3\]"):
        again.finish(out, 4, lambda i: f"shard-{i:05d}.arrow")
    out.mkdir()
    infos = again.finish(out, 3, lambda i: f"shard-{i:05d}.arrow")
    assert [info["records"] for info in infos] == [3, 0, 2]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == {"shard-00000.arrow": b"shard 0",
                                                               "shard-00001.arrow": b"shard 2"}
    assert not again.dir.exists()

    PartialShards(out, token, suffix=".arrow").commit(0, {"records": 0})
    other = PartialShards(out, input_token({"size": 64}, []), suffix=".arrow")  # other params: start over
    assert other.resumed == 0 and other.done(0) is None


def test_input_token_follows_the_inputs(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.h5").write_bytes(b"1234")
    first = input_token({"k": 1}, [tmp_path / "data"])
    assert input_token({"k": 1}, [tmp_path / "data"]) == first
    assert input_token({"k": 2}, [tmp_path / "data"]) != first
    (tmp_path / "data" / "a.h5").write_bytes(b"12345")
    assert input_token({"k": 1}, [tmp_path / "data"]) != first
