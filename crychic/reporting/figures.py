"""Pictures: a sample's heatmap over its RGB frames, a confusion matrix, the teacher's vs the
student's attention on RGB frames, training curves.

Layouts: confusion ``K x K`` counts (rows = true class, columns = predicted, as
`crychic.core.classification.confusion_matrix` returns); RGB frames ``T x S x S x 3`` uint8; teacher attention
``T' x h x w`` and student attention ``T'' x h' x w'`` (one stage of the model's
``N x 1 x T x h x w`` maps, sample and channel dropped), numpy or torch, any non-negative scale.

One resize convention for every map drawn over a clip (`resize_box_frame`): pixel j of an N-pixel
map sits at box position j / N, the convention the heatmaps are rendered in and that a strided
convolution with `k // 2` padding gives its feature grid (output cell j is centred on input pixel
stride * j). A map drawn with an image library's half-pixel convention would sit half a cell off.

`overlay_sample` returns a uint8 image (`Q x (P * Q + (P - 1) * GAP) x 3`: P panels of side Q); the
other functions return matplotlib ``Figure`` objects built without pyplot (no global figure registry, no
display backend: rendering is Agg), so an evaluation loop can make hundreds without leaking. Only
`save` and `save_png` write, atomically, so a killed stage never leaves a half-written image behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from crychic.clips.person_box import resample_matrix
from crychic.core.atomic_write import atomic_path

ATTENTION_ALPHA = 0.5  # share of the colour-mapped attention in each overlay pixel
ATTENTION_COLOURMAP = "jet"
GAP = 4  # white pixels between panels
ALPHA = 1.0  # opacity of the hottest heat; zero heat leaves the RGB untouched


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)  # attach the Agg canvas: renders to memory, needs no display
    return fig


def save(fig: Figure, path: str | os.PathLike, dpi: int = 150) -> None:
    """Write `fig` to `path`, format from its suffix (png, pdf, svg...)."""
    path = Path(path)
    with atomic_path(path) as tmp:  # tmp ends in .tmp, so the format must be named
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=dpi)


def row_normalise(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (recall per true class); rows of a class never seen stay 0."""
    matrix = np.asarray(matrix, dtype=np.float64)
    totals = matrix.sum(axis=1, keepdims=True)  # K x 1
    return np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)


def confusion_matrix_figure(matrix, class_names: list[str], *, title: str, normalise: bool = True,
                            groups: list[str] | None = None) -> Figure:
    """Heat map of the confusion matrix with every non-empty cell's value written in it.

    `groups` gives each class a group (e.g. NTU's daily / medical / mutual actions, in class order);
    lines are drawn between consecutive classes of different groups, so confusion that stays
    inside a group reads as a block on the diagonal.
    """
    counts = np.asarray(matrix)
    num_classes = len(class_names)
    if counts.shape != (num_classes, num_classes):
        raise ValueError(f"matrix must be {num_classes} x {num_classes} for {num_classes} class names, got {counts.shape}")
    if groups is not None and len(groups) != num_classes:
        raise ValueError(f"groups has {len(groups)} entries for {num_classes} classes")
    # Percent of the true class, written as whole numbers: "90" fits a cell where "0.90" crowds it.
    values = 100 * row_normalise(counts) if normalise else counts.astype(np.float64)
    peak = 100.0 if normalise else max(float(values.max()), 1.0)

    side = float(np.clip(0.35 * num_classes + 2.5, 4, 30))  # inches: cells stay readable as K grows
    fig = _new_figure(side, side)
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="Blues", vmin=0, vmax=peak, interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.8, label="% of true class" if normalise else "clips")

    font_size = float(np.clip(120 / num_classes, 3, 10))
    for (row, column), value in np.ndenumerate(values):
        if counts[row, column] == 0:  # empty cells stay blank, so the eye finds the confusions
            continue
        ax.text(column, row, f"{value:.0f}" if normalise else f"{int(value)}", ha="center", va="center",
                fontsize=font_size, color="white" if value > 0.5 * peak else "black")

    if groups is not None:
        boundaries = [i + 0.5 for i in range(num_classes - 1) if groups[i] != groups[i + 1]]
        for position in boundaries:
            ax.axhline(position, color="crimson", linewidth=1.2)
            ax.axvline(position, color="crimson", linewidth=1.2)

    ax.set_xticks(range(num_classes), class_names, rotation=90, fontsize=font_size)
    ax.set_yticks(range(num_classes), class_names, fontsize=font_size)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=10)
    return fig


def _numpy(x) -> np.ndarray:
    return x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float32)


def _blend(rgb: np.ndarray, attention: np.ndarray) -> np.ndarray:
    """``S x S x 3`` uint8 and ``S x S`` attention -> uint8 overlay, attention scaled so its peak is 1."""
    attention = attention / max(float(attention.max()), 1e-6)
    colours = matplotlib.colormaps[ATTENTION_COLOURMAP](attention)[..., :3]  # S x S x 3 in [0, 1]
    blended = (1 - ATTENTION_ALPHA) * rgb / 255.0 + ATTENTION_ALPHA * colours
    return np.round(blended * 255).astype(np.uint8)


def _matching_frames(frames: np.ndarray, total: int, length: int) -> np.ndarray:
    """Index into a sequence of `length` maps covering the same span as `total` RGB frames.

    Both modalities sample the same span evenly, so RGB frame i lies in segment
    floor((i + 0.5) * length / total) of the other sequence.
    """
    return np.minimum(((frames + 0.5) * length / total).astype(int), length - 1)


def attention_overlay_figure(rgb_frames, teacher_attention, student_attention, *, num_frames: int = 4,
                             title: str | None = None) -> Figure:
    """Rows: RGB, RGB + teacher attention, RGB + student attention, at `num_frames` evenly spaced frames.

    The teacher's and student's maps have their own time lengths; each column shows the map frame
    covering the same part of the clip as its RGB frame. Maps are resized to the RGB side with
    `resize_box_frame` and each is scaled to its own peak, so the figure compares where each
    network looks, not how strongly.
    """
    rgb = np.asarray(rgb_frames)
    if rgb.ndim != 4 or rgb.shape[-1] != 3:
        raise ValueError(f"rgb_frames must be T x S x S x 3, got {rgb.shape}")
    total, side = rgb.shape[0], rgb.shape[1]
    shown = np.unique(np.linspace(0, total - 1, min(num_frames, total)).round().astype(int))
    rows = [("RGB", [rgb[i] for i in shown])]
    # No teacher map (a pose-free prediction): the RGB and student rows only.
    for label, attention in (("RGB + teacher", teacher_attention), ("RGB + student", student_attention)):
        if attention is None:
            continue
        maps = _numpy(attention)
        if maps.ndim != 3:
            raise ValueError(f"attention maps must be T x h x w, got {label[6:]} {maps.shape}")
        maps = np.stack([resize_box_frame(m, side) for m in maps[_matching_frames(shown, total, len(maps))]])
        rows.append((label, [_blend(rgb[i], a) for i, a in zip(shown, maps.clip(min=0))]))  # F x S x S maps
    fig = _new_figure(2.2 * len(shown), 2.2 * len(rows) + (0.4 if title else 0))
    axes = fig.subplots(len(rows), len(shown), squeeze=False)
    for row, (label, images) in enumerate(rows):
        for column, image in enumerate(images):
            ax = axes[row, column]
            ax.imshow(image, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"frame {shown[column]}", fontsize=9)
            if column == 0:
                ax.set_ylabel(label)
    if title:
        fig.suptitle(title)
    return fig


def training_curves_figure(history: list[dict], stage: str) -> Figure:
    """Loss terms (left) and validation accuracy (right) per epoch of a training stage: every
    `train_*` term, and the per-network `val_<name>_top1` (else top-1, top-5, mean class)."""
    epochs = [row["epoch"] + 1 for row in history]
    fig = _new_figure(10, 3.6)
    left, right = fig.subplots(1, 2)
    for key in sorted(k for k in history[0] if k.startswith("train_")):
        left.plot(epochs, [row[key] for row in history], label=key.removeprefix("train_"))
    left.set(xlabel="epoch", ylabel="loss", title=f"{stage}: training loss terms")
    left.legend(fontsize=8)
    accuracy = sorted(k for k in history[0] if k.startswith("val_") and k.endswith("_top1") and k != "val_top1")
    accuracy = accuracy or [k for k in ("val_top1", "val_top5", "val_mean_class_accuracy") if k in history[0]]
    for key in accuracy:
        right.plot(epochs, [row[key] for row in history], marker="o", label=key.removeprefix("val_"))
    right.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1), title=f"{stage}: validation accuracy")
    right.legend(fontsize=8)
    return fig


def resize_box_frame(image: np.ndarray, size: int) -> np.ndarray:
    """Resample an ``H x W`` (or ``H x W x C``) image of the box to ``size x size`` (float32), with
    pixel j at box position j / N at both ends."""
    height, width = image.shape[:2]
    rows = resample_matrix(np.arange(size) / size * height, height)  # size x H
    columns = resample_matrix(np.arange(size) / size * width, width)  # size x W
    return np.einsum("ih,hw...,jw->ij...", rows, image.astype(np.float32), columns, optimize=True)


def nearest_frames(wanted: np.ndarray, available: np.ndarray) -> np.ndarray:
    """For each wanted source frame, the position in `available` of the nearest source frame."""
    distance = np.abs(np.asarray(available)[None, :] - np.asarray(wanted)[:, None])  # wanted x available
    return distance.argmin(axis=1)


def overlay_sample(rgb_frames: np.ndarray, rgb_frame_indices, heatmap: np.ndarray, heatmap_frame_indices,
                   *, num_panels: int = 4, panel_size: int | None = None, colormap: str = "inferno") -> np.ndarray:
    """Panels of RGB frames spread evenly over the clip, each blended with the max over channels
    of the heatmap frame nearest in time (heat h drawn as colormap(h) at opacity ALPHA * h).
    Panels are `panel_size` pixels square (default: the RGB's S); a joint's heat is a dot of about
    one heatmap pixel, so enlarging small clips makes it visible.

    'inferno' by default: its lightness rises with the value, so the hottest spot is the
    brightest, which 'jet' (dark red at the top) does not give.
    """
    rgb_frames = np.asarray(rgb_frames)
    num_frames = rgb_frames.shape[0]
    size = panel_size or rgb_frames.shape[1]
    heat = np.asarray(heatmap)
    heat = heat.astype(np.float32) / 255.0 if heat.dtype == np.uint8 else heat.astype(np.float32)
    heat = heat.max(axis=0)  # T' x H x W: any body part
    panels_at = np.unique(np.linspace(0, num_frames - 1, min(num_panels, num_frames)).round().astype(int))
    heat_at = nearest_frames(np.asarray(rgb_frame_indices)[panels_at], heatmap_frame_indices)
    lookup = matplotlib.colormaps[colormap]

    panels = []
    for frame, heat_frame in zip(panels_at, heat_at):
        h = np.clip(resize_box_frame(heat[heat_frame], size), 0, 1)[..., None]  # Q x Q x 1
        colour = lookup(h[..., 0])[..., :3] * 255.0  # Q x Q x 3
        image = rgb_frames[frame] if size == rgb_frames.shape[1] else resize_box_frame(rgb_frames[frame], size)
        blended = image * (1 - ALPHA * h) + colour * (ALPHA * h)
        panel = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
        caption = f"rgb {rgb_frame_indices[frame]} / hm {heatmap_frame_indices[heat_frame]}"
        font_scale = max(size / 224, 0.5)
        cv2.putText(panel, caption, (2, int(12 * font_scale) + 1), cv2.FONT_HERSHEY_PLAIN, font_scale,
                    (255, 255, 255), 1, cv2.LINE_AA)
        panels.append(panel)
    gap = np.full((size, GAP, 3), 255, dtype=np.uint8)
    row = [piece for panel in panels for piece in (panel, gap)][:-1]
    return np.concatenate(row, axis=1)


def figure_pixels(fig: Figure, dpi: int = 100) -> np.ndarray:
    """The figure rendered to an ``H x W x 3`` uint8 RGB image (to stack several into one PNG)."""
    fig.set_dpi(dpi)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def save_png(image: np.ndarray, path: str | Path) -> Path:
    """Write an RGB uint8 image as PNG, atomically."""
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError(f"{path}: PNG encoding failed")
    with atomic_path(path) as tmp:
        tmp.write_bytes(encoded.tobytes())
    return Path(path)


def wrist_focus_figure(focus: dict, title: str):
    """Bars: the teacher's attention near the wrists against a uniform map, per class group, one
    bar per teacher stage (`crychic.evaluation.attention_focus`; 1 = no preference for the wrists)."""
    stages = list(focus["stages"])
    groups = [g for g in focus["stages"][stages[0]]]
    fig = _new_figure(1.2 + 0.9 * len(groups) * len(stages) / 2, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(stages)
    for i, stage in enumerate(stages):
        ratios = [focus["stages"][stage].get(g, {}).get("ratio") or 0 for g in groups]
        ax.bar(np.arange(len(groups)) + i * width, ratios, width, label=stage)
    ax.axhline(1.0, color="black", lw=0.8, ls="--")
    ax.set_xticks(np.arange(len(groups)) + width * (len(stages) - 1) / 2, groups)
    ax.set_ylabel("attention near wrists / uniform")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return fig
