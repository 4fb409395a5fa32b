"""A picture of one sample's two modalities in their shared frame: RGB with its heatmap on top.

Layouts: RGB frames ``T x S x S x 3`` uint8; heatmap ``K x T' x H x W`` (uint8 as stored, or
float in [0, 1]); each with its source frame indices (``T``, ``T'``). The output is one row of
P panels of side Q (default S), ``Q x (P * Q + (P - 1) * GAP) x 3`` uint8 (RGB order).

Why a picture: both modalities are cut from one person box, and a wrong box, an off-by-one frame
or a mirrored crop shows at a glance as heat that misses the body. So the heatmap is resized
with the same pixel convention the training data uses (pixel j at box position j / N), not with
an image library's half-pixel one, and each panel pairs an RGB frame with the heatmap frame
nearest to it in source time.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import matplotlib
import numpy as np

from crychic.core.atomic_write import atomic_path
from crychic.training.data import resample_matrix

GAP = 4  # white pixels between panels
ALPHA = 1.0  # opacity of the hottest heat; zero heat leaves the RGB untouched


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


def save_png(image: np.ndarray, path: str | Path) -> Path:
    """Write an RGB uint8 image as PNG, atomically."""
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError(f"{path}: PNG encoding failed")
    with atomic_path(path) as tmp:
        tmp.write_bytes(encoded.tobytes())
    return Path(path)
