"""Appearance nuisance: the things in a clip that are not the action and that heatmaps ignore.

Layouts: the scene is drawn on a canvas ``(H + 2m) x (W + 2m) x 3`` (uint8 RGB, margin m) and each
frame is the ``H x W`` window at offset ``m + jitter[t]``, so camera shake moves everything in the
world (background, desk, occluders) together and shifts the keypoints by exactly the same pixels.
`jitter` is ``T x 2`` (dx, dy) integer pixels; occluder boxes are ``T x K x 4`` (x0, y0, x1, y1)
canvas pixels.

Every colour here is muted (saturation <= 0.45) except the distractors, which take the held
objects' hues on purpose: a colour anywhere in the frame says nothing; a colour *at the hands*
does, which is what the pose teacher's attention is for.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from crychic.sources.synthetic.figure import hsv_colour, muted_colour

# Hue (degrees) of each held object; distractors reuse them. Far from skin hues (15-32).
OBJECT_HUES = {"cup": 0.0, "food": 110.0, "pen": 300.0, "book": 220.0, "keyboard": 55.0}

# Camera id -> viewpoint yaw (radians): 1 front, 2 and 3 turned either way (mirror images).
CAMERA_YAW = {1: 0.0, 2: 0.6, 3: -0.6}


@dataclass(frozen=True)
class Occluders:
    boxes: np.ndarray  # T x K x 4 canvas pixels
    colours: list[tuple[int, int, int]]
    striped: list[bool]


def sample_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A textured wall: stripes, a checkerboard or noise blobs in two or three muted colours."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    kind = rng.integers(3)
    if kind == 0:  # stripes, hard or soft, at any angle
        angle, period = rng.uniform(0, np.pi), rng.uniform(5, 30)
        wave = np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period)
        mix = (wave > 0).astype(np.float32) if rng.random() < 0.5 else 0.5 + 0.5 * wave
    elif kind == 1:  # checkerboard, maybe rotated
        angle, cell = rng.uniform(0, np.pi / 2), rng.uniform(5, 24)
        u, v = xx * np.cos(angle) + yy * np.sin(angle), -xx * np.sin(angle) + yy * np.cos(angle)
        mix = ((np.floor(u / cell) + np.floor(v / cell)) % 2).astype(np.float32)
    else:  # smooth noise blobs
        coarse = rng.random((max(2, height // int(rng.integers(6, 20))), max(2, width // int(rng.integers(6, 20)))))
        mix = cv2.resize(coarse.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
        mix = np.clip((mix - 0.5) * rng.uniform(1.5, 4.0) + 0.5, 0, 1)
    first, second = np.array(muted_colour(rng), np.float32), np.array(muted_colour(rng), np.float32)
    image = first + (second - first) * mix[..., None]  # H x W x 3
    slope = rng.uniform(-0.25, 0.25, size=2) / max(height, width)  # a light falling off across the wall
    image *= (1.0 + slope[0] * (xx - width / 2) + slope[1] * (yy - height / 2))[..., None]
    return np.clip(image, 0, 255).astype(np.uint8)


def draw_distractors(canvas: np.ndarray, rng: np.random.Generator, avoid: np.ndarray, radius_px: float) -> None:
    """Static saturated shapes in object hues, kept `radius_px` away from every point in `avoid` (N x 2)."""
    count = int(rng.integers(1, 4)) if rng.random() < 0.5 else 0
    hues = list(OBJECT_HUES.values())
    height, width = canvas.shape[:2]
    for _ in range(count):
        hue = hues[int(rng.integers(len(hues)))] + rng.uniform(-10, 10)
        colour = hsv_colour(hue, rng.uniform(0.75, 1.0), rng.uniform(0.7, 1.0))
        size = rng.uniform(0.25, 0.6) * radius_px
        round_shape = rng.random() < 0.5
        for _attempt in range(20):
            centre = rng.uniform([0, 0], [width, height])
            if np.min(np.linalg.norm(avoid - centre, axis=1)) > radius_px + size:
                break
        else:
            continue
        cx, cy = int(centre[0]), int(centre[1])
        if round_shape:
            cv2.circle(canvas, (cx, cy), max(1, int(size)), colour, -1, cv2.LINE_AA)
        else:
            half = max(1, int(size))
            cv2.rectangle(canvas, (cx - half, cy - int(1.4 * half)), (cx + half, cy + int(1.4 * half)), colour, -1)


def sample_occluders(rng: np.random.Generator, frames: int, height: int, width: int) -> Occluders:
    """Sometimes one or two boxes slide across the view (people walking by, a swinging door)."""
    count = int(rng.integers(1, 3)) if rng.random() < 0.35 else 0
    boxes = np.zeros((frames, count, 4))
    colours, striped = [], []
    t = np.arange(frames)
    for k in range(count):
        size = rng.uniform([0.12 * width, 0.2 * height], [0.3 * width, 0.5 * height])
        start = rng.uniform([0, 0], [width, height])
        velocity = rng.uniform(-1.5, 1.5, size=2) * np.array([width, height]) / 160
        centre = start + t[:, None] * velocity  # T x 2
        boxes[:, k] = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
        colours.append(muted_colour(rng))
        striped.append(bool(rng.random() < 0.5))
    return Occluders(boxes=boxes, colours=colours, striped=striped)


def draw_occluders(canvas: np.ndarray, occluders: Occluders, frame: int) -> None:
    for box, colour, striped in zip(occluders.boxes[frame], occluders.colours, occluders.striped):
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, -1)
        if striped:
            darker = tuple(int(c * 0.6) for c in colour)
            for y in range(y0 + 3, y1, 6):
                cv2.line(canvas, (x0, y), (x1, y), darker, 1)


def occluded_by_boxes(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """T x V x 2 points, T x K x 4 boxes -> T x V bool: is the point behind any box."""
    x, y = points[..., 0, None], points[..., 1, None]  # T x V x 1
    b = boxes[:, None]  # T x 1 x K x 4
    inside = (x >= b[..., 0]) & (x <= b[..., 2]) & (y >= b[..., 1]) & (y <= b[..., 3])
    return inside.any(axis=-1)


def sample_jitter(rng: np.random.Generator, frames: int, margin: int) -> np.ndarray:
    """T x 2 integer camera offsets: a slow drift plus per-frame shake, within the canvas margin."""
    t = np.arange(frames)
    drift = np.stack([np.sin(2 * np.pi * rng.uniform(0.005, 0.03) * t + rng.uniform(0, 2 * np.pi))
                      for _ in range(2)], -1)  # T x 2
    shake = rng.normal(0, rng.uniform(0.3, 0.9), size=(frames, 2))
    return np.clip(np.round(rng.uniform(0, 2) * drift + shake), -margin, margin).astype(int)


def sample_lighting(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-clip colour gain and offset (3 each): exposure and a faint white-balance cast."""
    gain = rng.uniform(0.85, 1.15) * rng.uniform(0.95, 1.05, size=3)
    return gain.astype(np.float32), rng.uniform(-12, 12, size=3).astype(np.float32)
