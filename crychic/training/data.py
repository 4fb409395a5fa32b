"""Training inputs: one sample id joins a heatmap volume and its RGB clip, augmented together.

Layouts of one item: `heatmap` float32 tensor ``K x T x H x W`` in [0, 1] (17 joint channels, then
17 limb channels when the shards store both, as their attrs say); `rgb` float32 tensor
``3 x T' x S x S``, normalised by `RGB_MEAN` / `RGB_STD`; `label` int64; `sample_id` str;
`index` int; with framed clips also `heatmap_in_rgb` float32 ``4`` (below). T and T' need not
agree (each modality records its own frames) and neither need H and S: both cover the same square
person box (with framed clips, see below).

Coordinates. Both modalities put pixel j of an N-pixel side at position u = j / N of the box
(the convention of the heatmap renderer and `cv2.warpAffine`, see `person_box`). An augmentation
is a map of these [0, 1] coordinates, drawn once per item and applied to each modality by
resampling at its own resolution, so a keypoint's heatmap peak and its RGB pixel move together:
- crop: PoseConv3D's `RandomResizedCrop` (area 0.56-1 of the box, aspect 3/4-4/3) as a box
  (u0, v0, u1, v1), stretched back to each modality's own size (its `Resize(keep_ratio=False)`);
- flip: u -> 1 - u (PYSKL's keypoint flip, x -> width - x), with the heatmap's left and right
  channels swapped by `coco17.flip_permutation`.
Resampling is bilinear with borders replicated. (PYSKL crops keypoints but resizes images with
half-pixel centres, a sub-pixel disagreement between its modalities that we do not copy.)

Framed clips (`framed=True`, RGB from stage `decode_rgb_framed`: cut by the deployment framing,
no keypoint box, as the pose-free path sees clips at test time). The two modalities then cover
different squares: the heatmap the person box, the RGB the framing box, in which the shard
records the person box as `person_in_clip` (u0, v0, u1, v1 of the clip's [0, 1] coordinates;
past [0, 1] where the framing cuts the person off). One augmentation is drawn per item, in the
framed clip's coordinates, as above, and applied to the RGB. The heatmap stays in its box frame:
it gets the same flip (u -> 1 - u of the box, left/right channels swapped) and, only with
`heatmap_crop=True`, a crop of its own drawn independently (by default none, so the teacher sees
the whole person and its maps cover every part of the person the RGB crop shows). The item then
carries `heatmap_in_rgb`, float32 (u0, v0, u1, v1): where the augmented heatmap's [0, 1] square
lies in the augmented RGB clip's [0, 1] coordinates (`heatmap_in_rgb`): heatmap pixel (i, j) of
an H x H map, at s = (j / H, i / H), is RGB position (u0 + s_u (u1 - u0), v0 + s_v (v1 - v0)), RGB
pixel (row v S, column u S). The flip is shared, so the box always runs forward (u0 < u1): mirroring the
framed clip about its centre moves the box to (1 - u1, ..., 1 - u0, ...) and mirrors the heatmap
inside it. `crychic.models.attention.carry_to_frame` takes the teacher's maps onto the student's
grid with it.

Transport (`transport`): a batch leaves the loader as float32, as above (the CPU path), or as
uint8 (the CUDA path, execution setting `loader_transport`): the heatmap's and the clip's resampled
levels 0-255, rounded, un-normalised, ``B x K x T x H x W`` and ``B x 3 x T' x S x S``; `model_input`
turns them to the float32 layouts above on the training device. A quarter of the bytes through the
workers' shared memory (where the float32 batches' page faults were most of a worker's time at NTU
shapes: docs/REPORT.md) and over the bus, within half a level (0.5/255 of a pixel) of the float32 path.

Randomness: each item draws from a generator seeded by (seed, epoch, index), never from a
worker's global state (`crychic.core.epoch_seeds`), and its crop and resize run in compiled
single-threaded loops from the stored uint8 pixels (`crychic.training.resample`), so a run gives the
same batches, bit for bit, with 0 or 8 DataLoader workers.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler

from crychic.clips.person_box import resample_matrix
from crychic.core.coco17 import flip_permutation
from crychic.core.epoch_seeds import EpochSeeded
from crychic.heatmaps.shards import HeatmapShards, from_uint8
from crychic.rgb.shards import RgbClips
from crychic.training.resample import resize_heatmap, resize_rgb

# ImageNet's per-channel statistics in 0-255 units (mmaction2's constants). The student is trained
# from scratch, so any fixed pair would do; these put natural images near zero mean, unit variance.
RGB_MEAN = (123.675, 116.28, 103.53)
RGB_STD = (58.395, 57.12, 57.375)

MODALITIES = ("heatmap", "rgb")
TRANSPORTS = {"float32": torch.float32, "uint8": torch.uint8}  # a batch's pixel dtype out of the loader


class Augmentation(NamedTuple):
    """One item's geometric augmentation, in [0, 1] box coordinates."""

    crop: np.ndarray  # (u0, v0, u1, v1)
    flip: bool


IDENTITY = Augmentation(crop=np.array([0.0, 0.0, 1.0, 1.0]), flip=False)


def random_resized_crop(rng: np.random.Generator, area_range: Sequence[float], ratio_range: Sequence[float],
                        attempts: int = 10) -> np.ndarray:
    """A crop box (u0, v0, u1, v1) of the unit square, as mmaction2's `RandomResizedCrop` draws it.

    Up to `attempts` (area, aspect) pairs are drawn; the first that fits is placed uniformly, and
    if none fits the whole square is kept (mmaction2's fallback, a centre crop of the shorter side).
    """
    area = rng.uniform(area_range[0], area_range[1], size=attempts)
    aspect = np.exp(rng.uniform(np.log(ratio_range[0]), np.log(ratio_range[1]), size=attempts))  # width / height
    width, height = np.sqrt(area * aspect), np.sqrt(area / aspect)
    fits = np.flatnonzero((width <= 1) & (height <= 1))
    if len(fits) == 0:
        return IDENTITY.crop.copy()
    width, height = width[fits[0]], height[fits[0]]
    u0, v0 = rng.uniform(0, 1 - width), rng.uniform(0, 1 - height)
    return np.array([u0, v0, u0 + width, v0 + height])


def _axis_matrix(low: float, high: float, flip: bool, size: int) -> torch.Tensor:
    """Weights giving output pixel i the input value at box position low + u * (high - low), where
    u = i / size (or 1 - i / size when flipped)."""
    u_out = np.arange(size) / size
    if flip:
        u_out = 1.0 - u_out
    return torch.from_numpy(resample_matrix((low + u_out * (high - low)) * size, size))


def apply_augmentation(volume: torch.Tensor, augmentation: Augmentation) -> torch.Tensor:
    """Crop-and-resize (and maybe flip) the last two axes (H x W) of `volume`, keeping their size: the
    dense reference form, two matrix products per plane. The loader computes the same thing from the
    stored uint8 pixels in one pass (`crychic.training.resample`); tests compare the two."""
    u0, v0, u1, v1 = augmentation.crop
    rows = _axis_matrix(v0, v1, False, volume.shape[-2])  # H x H
    columns = _axis_matrix(u0, u1, augmentation.flip, volume.shape[-1])  # W x W
    return rows @ volume @ columns.T  # broadcast over the leading axes


def heatmap_in_rgb(person_in_clip, rgb: Augmentation, heatmap: Augmentation) -> np.ndarray:
    """(u0, v0, u1, v1): where the augmented heatmap's [0, 1] square lies in the augmented framed
    RGB clip's [0, 1] coordinates, the person box being at `person_in_clip` of the un-augmented clip.
    Both augmentations must share their flip (the dataset draws one)."""
    if rgb.flip != heatmap.flip:
        raise ValueError("heatmap_in_rgb: the heatmap and the RGB clip must be flipped together")
    person = np.asarray(person_in_clip, dtype=np.float64)
    extent = person[2:] - person[:2]
    low = person[:2] + heatmap.crop[:2] * extent  # the heatmap crop's corners in the clip (unflipped)
    high = person[:2] + heatmap.crop[2:] * extent
    crop_low, crop_extent = rgb.crop[:2], rgb.crop[2:] - rgb.crop[:2]
    low, high = (low - crop_low) / crop_extent, (high - crop_low) / crop_extent
    if rgb.flip:  # u -> 1 - u on both sides: the mirrored heatmap runs forward in the mirrored clip
        low[0], high[0] = 1 - high[0], 1 - low[0]
    return np.concatenate([low, high])


def heatmap_flip_permutation(with_joint: bool, with_limb: bool) -> list[int]:
    """Channel permutation of a flip for a volume of joint channels, then limb channels."""
    permutation = flip_permutation(with_limb=False) if with_joint else []
    if with_limb:
        offset = len(permutation)
        permutation += [offset + c for c in flip_permutation(with_limb=True)]
    return permutation


def normalise_rgb(frames: np.ndarray) -> torch.Tensor:
    """``T x S x S x 3`` uint8 -> ``3 x T x S x S`` float32, normalised by RGB_MEAN / RGB_STD."""
    clip = torch.from_numpy(np.asarray(frames, dtype=np.float32)).permute(3, 0, 1, 2)  # 3 x T x S x S
    mean = torch.tensor(RGB_MEAN).view(3, 1, 1, 1)
    std = torch.tensor(RGB_STD).view(3, 1, 1, 1)
    return (clip - mean) / std


def paired_sample_ids(metadata: dict[str, dict[str, tuple[str, int]]],
                      split: str) -> tuple[list[str], dict[str, list[str]]]:
    """Ids of `split` present in every modality, and per modality the ids of `split` it lacks.

    `metadata` maps modality -> {sample id: (split, label)}. A sample whose modalities disagree on
    its split or label breaks the one-sample-id invariant: that is an error, not a skip.
    """
    seen: dict[str, tuple[str, int]] = {}
    for modality, table in metadata.items():
        for sample_id, split_label in table.items():
            if seen.setdefault(sample_id, split_label) != split_label:
                raise ValueError(f"sample {sample_id!r}: {modality} says (split, label) = {split_label}, "
                                 f"another modality says {seen[sample_id]}")
    of_split = {sample_id for sample_id, (s, _) in seen.items() if s == split}
    missing = {modality: sorted(of_split - set(table)) for modality, table in metadata.items()}
    paired = sorted(of_split.intersection(*metadata.values()))
    return paired, missing


def _is_identity(augmentation: Augmentation) -> bool:
    return not augmentation.flip and np.array_equal(augmentation.crop, IDENTITY.crop)


def _batch_tensor(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """An uninitialised batch; in a DataLoader worker in shared memory, as torch's own collate
    allocates it, so that sending it to the training process copies nothing."""
    numel = int(np.prod(shape))
    if torch.utils.data.get_worker_info() is None:
        return torch.empty(shape, dtype=dtype)
    storage = torch.empty(0, dtype=dtype)._typed_storage()._new_shared(numel)
    return torch.empty(0, dtype=dtype).new(storage).resize_(shape)  # as torch's default_collate


def _rgb_into(out: torch.Tensor, frames: np.ndarray, augmentation: Augmentation) -> None:
    """``T x S x S x 3`` uint8 frames -> `out` (``3 x T x S x S``): float32 normalised, or uint8 levels;
    augmented."""
    if not _is_identity(augmentation):
        resize_rgb(frames, augmentation.crop, augmentation.flip, RGB_MEAN, RGB_STD, out=out.numpy())
    elif out.dtype == torch.uint8:
        out.numpy()[...] = frames.transpose(3, 0, 1, 2)  # T x S x S x 3 -> 3 x T x S x S (frames may be read-only)
    else:
        out.copy_(normalise_rgb(frames))


def model_input(name: str, tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A batch's `name` tensor on `device`, as the model takes it: a uint8 transport's levels turned
    there into the float32 path's values (heatmap / 255; RGB normalised by RGB_MEAN / RGB_STD)."""
    if tensor.dtype != torch.uint8:
        return tensor.to(device, non_blocking=True)
    if name not in ("heatmap", "rgb"):
        raise ValueError(f"model_input: no float form for a uint8 {name!r} tensor")
    scale, offset = _conversion(name, torch.device(device))
    tensor = tensor.to(device, non_blocking=True)
    # A division by a tensor on the device: by a Python number, CUDA multiplies by its reciprocal,
    # one float32 ulp off `from_uint8`'s division on half the levels.
    return (tensor.float() - offset) / scale


@functools.lru_cache(maxsize=None)
def _conversion(name: str, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(divisor, offset) of `model_input`'s uint8 -> float32, made once per device (no copy per batch)."""
    if name == "heatmap":
        return torch.full((), 255.0, device=device), torch.zeros((), device=device)
    std = torch.tensor(RGB_STD, device=device).view(1, 3, 1, 1, 1)  # broadcast over B x 3 x T x S x S
    return std, torch.tensor(RGB_MEAN, device=device).view(1, 3, 1, 1, 1)


def already_collated(batch: dict) -> dict:
    """The collate function of a dataset whose `__getitems__` returns whole batches."""
    return batch


class PoseRgbDataset(EpochSeeded, Dataset):
    """The samples of one split that have every requested modality, keyed by sample id.

    `missing[modality]` lists the split's samples that lack that modality, for a stage to report.
    `cache_bytes` > 0 keeps up to that many bytes of samples per store in memory once read
    (`ShardedSamples.cache_in_memory`), for loading in the main process.
    `set_epoch` must be called before each epoch's `iter(loader)`; the epoch lives in shared
    memory so that persistent DataLoader workers (forked copies of this object) see it too.
    `framed=True` reads RGB clips cut by the deployment framing (`rgb_dir` from stage
    `decode_rgb_framed`) and adds `heatmap_in_rgb` to each item; `heatmap_crop` then also crops
    the heatmap (module docstring). A framed folder given without `framed=True`, or the reverse,
    is an error: the modalities would silently not share the frame the model assumes.
    `transport` is the batches' pixel dtype (`TRANSPORTS`; module docstring): "uint8" for a GPU, whose
    batches `model_input` turns to float on the device.
    """

    def __init__(
        self,
        heatmap_dir: str | Path | None,
        rgb_dir: str | Path | None,
        *,
        split: str,
        augment: bool = False,
        crop_scale: Sequence[float] = (0.56, 1.0),
        crop_ratio: Sequence[float] = (3 / 4, 4 / 3),
        flip_prob: float = 0.5,
        seed: int = 0,
        modalities: Sequence[str] = MODALITIES,
        cache_bytes: int = 0,
        framed: bool = False,
        heatmap_crop: bool = False,
        transport: str = "float32",
    ):
        self.modalities = tuple(modalities)
        unknown = set(self.modalities) - set(MODALITIES)
        if unknown or not self.modalities:
            raise ValueError(f"modalities must be a non-empty subset of {MODALITIES}, got {modalities}")
        super().__init__(seed)
        self.split, self.augment = split, augment
        self.crop_scale, self.crop_ratio, self.flip_prob = tuple(crop_scale), tuple(crop_ratio), flip_prob
        self.framed, self.heatmap_crop = framed, heatmap_crop
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {sorted(TRANSPORTS)}, got {transport!r}")
        self.pixel_dtype = TRANSPORTS[transport]
        if framed and "rgb" not in self.modalities:
            raise ValueError("framed=True reads framed RGB clips: 'rgb' must be among the modalities")

        metadata = {}
        self.heatmaps = self.rgb_clips = None
        if "heatmap" in self.modalities:
            if heatmap_dir is None:
                raise ValueError("heatmap_dir is required when 'heatmap' is among the modalities")
            self.heatmaps = HeatmapShards(heatmap_dir)
            metadata["heatmap"] = self.heatmaps.metadata()
            attrs = self.heatmaps.attrs  # shards without these attrs hold joint channels only
            self.with_joint = bool(attrs.get("with_joint", True))
            self.with_limb = bool(attrs.get("with_limb", False))
            self.channel_permutation = heatmap_flip_permutation(self.with_joint, self.with_limb)
            self.heatmap_channels = len(self.channel_permutation)  # K of the volumes
        if "rgb" in self.modalities:
            if rgb_dir is None:
                raise ValueError("rgb_dir is required when 'rgb' is among the modalities")
            if framed:
                check_framed_folder(rgb_dir)
            self.rgb_clips = RgbClips(rgb_dir)
            if self.rgb_clips.framed != framed:
                raise ValueError(f"{rgb_dir}: {'box-cut' if framed else 'framed'} RGB clips, but framed={framed}: "
                                 "framed clips (stage decode_rgb_framed) need framed=True, box-cut ones framed=False")
            metadata["rgb"] = self.rgb_clips.metadata()
        for store in (self.heatmaps, self.rgb_clips):
            if store is not None and cache_bytes:
                store.cache_in_memory(cache_bytes)  # the same bytes, read from disk once
        self.sample_ids, self.missing = paired_sample_ids(metadata, split)

    def __len__(self) -> int:
        return len(self.sample_ids)

    def augmentation(self, index: int) -> Augmentation:
        """The crop and flip of item `index` this epoch: a pure function of (seed, epoch, index)."""
        if not self.augment:
            return IDENTITY
        rng = self.item_rng(index)
        crop = random_resized_crop(rng, self.crop_scale, self.crop_ratio)
        return Augmentation(crop=crop, flip=bool(rng.random() < self.flip_prob))

    def heatmap_augmentation(self, index: int) -> Augmentation:
        """The heatmap's own augmentation with framed clips: the RGB's flip, and only with
        `heatmap_crop` a crop of its own (from a generator of its own, seeded by (seed, epoch,
        index, 1), so the RGB's draws do not depend on it)."""
        flip = self.augmentation(index).flip
        if not (self.augment and self.heatmap_crop):
            return Augmentation(crop=IDENTITY.crop.copy(), flip=flip)
        rng = self.item_rng(index, 1)
        return Augmentation(crop=random_resized_crop(rng, self.crop_scale, self.crop_ratio), flip=flip)

    makes_batches = True  # `__getitems__` returns collated batches (make_loader then collates nothing)

    def __getitem__(self, index: int) -> dict:
        """One item: `__getitems__` of a batch of one, unbatched (so both give the same bits)."""
        batch = self.__getitems__([index])
        return {key: value[0] if key != "index" else index for key, value in batch.items()}

    def __getitems__(self, indices: list[int]) -> dict:
        """A whole batch, collated (the DataLoader calls this; `make_loader` collates nothing more).

        Each item's crop and resize writes straight into its slot of the batch, which in a DataLoader
        worker lives in shared memory: no per-item tensor is stacked and no batch copied to be sent
        (at NTU shapes that copy cost a worker about as much as making the item). The loops are
        compiled and single-threaded (crychic.training.resample) and the rest is element-wise, so a
        batch is the same bits in a worker and in the main process."""
        ids = [self.sample_ids[index] for index in indices]
        batch: dict = {"sample_id": ids, "index": torch.tensor(indices, dtype=torch.int64)}
        # Each item's draws once: the RGB clip's augmentation, and the heatmap's (the same one, or with
        # framed clips its flip only or a crop of its own).
        rgb_views = [self.augmentation(index) for index in indices]
        heatmap_views = [self.heatmap_augmentation(index) for index in indices] if self.framed else rgb_views
        labels: dict[str, list[int]] = {}
        boxes: dict[str, list] = {}
        if self.heatmaps is not None:
            records = [self.heatmaps.get(sample_id) for sample_id in ids]
            batch["heatmap"] = _batch_tensor((len(ids), *records[0]["heatmap"].shape), self.pixel_dtype)  # B x K x T x H x W
            for slot, record in enumerate(records):
                self._heatmap_into(batch["heatmap"][slot].numpy(), record, ids[slot], heatmap_views[slot])
            labels["heatmap"], boxes["heatmap"] = [r["label"] for r in records], [r["box"] for r in records]
        if self.rgb_clips is not None:
            records = [self.rgb_clips.get(sample_id) for sample_id in ids]
            frames = records[0]["frames"]  # T x S x S x 3
            batch["rgb"] = _batch_tensor((len(ids), 3, frames.shape[0], *frames.shape[1:3]),
                                         self.pixel_dtype)  # B x 3 x T x S x S
            for slot, record in enumerate(records):
                _rgb_into(batch["rgb"][slot], record["frames"], rgb_views[slot])
            labels["rgb"], boxes["rgb"] = [r["label"] for r in records], [r["box"] for r in records]
            if self.framed:
                batch["heatmap_in_rgb"] = torch.tensor(np.array([
                    heatmap_in_rgb(r["person_in_clip"], rgb, heat)
                    for r, rgb, heat in zip(records, rgb_views, heatmap_views)]), dtype=torch.float32)
        self._check_one_frame(ids, labels, boxes)
        batch["label"] = torch.tensor(next(iter(labels.values())), dtype=torch.int64)
        return batch

    def _heatmap_into(self, out: np.ndarray, record: dict, sample_id: str, augmentation: Augmentation) -> None:
        stored = record["heatmap"]  # K x T x H x W uint8
        if len(stored) != len(self.channel_permutation):
            raise ValueError(f"sample {sample_id!r}: {len(stored)} heatmap channels, the shard attrs "
                             f"(with_joint={self.with_joint}, with_limb={self.with_limb}) say "
                             f"{len(self.channel_permutation)}")
        if _is_identity(augmentation):
            out[...] = stored if out.dtype == np.uint8 else from_uint8(stored)  # K x T x H x W, float32 in [0, 1]
        else:  # the flip also swaps the left and right channels
            channels = self.channel_permutation if augmentation.flip else range(len(stored))
            resize_heatmap(stored, augmentation.crop, augmentation.flip, np.asarray(channels), out=out)

    @staticmethod
    def _check_one_frame(ids: list[str], labels: dict, boxes: dict) -> None:
        """Both modalities of a sample agree on its label and its person box (one spatial frame)."""
        if len(boxes) < 2:
            return
        for k, sample_id in enumerate(ids):
            if not np.allclose(boxes["heatmap"][k], boxes["rgb"][k], atol=1e-3):
                raise ValueError(f"sample {sample_id!r}: heatmap box {boxes['heatmap'][k]} and RGB box "
                                 f"{boxes['rgb'][k]} differ, so the two modalities do not share one spatial frame")


def clips_are_framed(rgb_dir: str | Path) -> bool:
    """Whether `rgb_dir` holds clips cut by the deployment framing (stage decode_rgb_framed)."""
    return RgbClips(rgb_dir).framed


def check_framed_folder(rgb_dir: str | Path) -> None:
    """A clear error for a `decode_rgb_framed` out folder that holds no clips by design."""
    marker = Path(rgb_dir) / "framing.json"
    if marker.is_file() and not json.loads(marker.read_text()).get("enabled", True):
        raise FileNotFoundError(f"{rgb_dir}: no framed clips: stage decode_rgb_framed ran with "
                                "research.deployment_framing: false (set it true in params.yaml, the research profile)")


def seed_worker(worker_id: int) -> None:
    """Seed numpy and `random` in a DataLoader worker from torch's per-worker seed, for any library
    code that draws from them (our own augmentation does not: it seeds per item)."""
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def make_loader(dataset: Dataset, *, batch_size: int, shuffle: bool, workers: int, seed: int,
                drop_last: bool = False, sampler: Sampler | None = None, pin_memory: bool = False) -> DataLoader:
    """A DataLoader whose order and worker seeds follow `seed`, whatever the number of workers.

    The shuffle has a generator of its own: the DataLoader also draws its workers' base seed from
    its generator, once per iterator with 0 workers but once per run with persistent workers, so
    a shared generator would shuffle differently with and without workers. Under DDP pass a
    DistributedSampler as `sampler` and shuffle=False (and call its `set_epoch` too). `pin_memory`
    (for a CUDA device) lets batches go to the GPU asynchronously (`model_input`'s non_blocking copy).
    """
    if sampler is not None and shuffle:
        raise ValueError("make_loader: give either shuffle=True or a sampler, not both")
    if shuffle:
        sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(seed))
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        persistent_workers=workers > 0,
        worker_init_fn=seed_worker,
        generator=torch.Generator().manual_seed(seed),
        drop_last=drop_last,
        pin_memory=pin_memory,
        # A dataset that makes whole batches (`PoseRgbDataset.__getitems__`) needs no collating.
        **({"collate_fn": already_collated} if getattr(dataset, "makes_batches", False) else {}),
    )
