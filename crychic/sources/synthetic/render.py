"""Drawing one frame's figure, desk and held object with cv2 (painter's algorithm by depth).

Layouts: `pixels` is ``P x 2`` canvas pixels and `depth` ``P`` (larger is nearer) for the named
points of `figure.POINTS`; the canvas is ``H x W x 3`` uint8 RGB, drawn in place. Sizes given in
body units are turned into pixels with `px_per_unit`.

Held objects are drawn from the keypoints, never the other way round: an object changes the
pixels only, which is the benchmark's object-group guarantee.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from crychic.sources.synthetic.figure import Body, P, hsv_colour

SHIFT = 4  # cv2 sub-pixel bits: smooth motion even on small frames
_ONE = 1 << SHIFT


def _pt(xy: np.ndarray) -> tuple[int, int]:
    return int(round(float(xy[0]) * _ONE)), int(round(float(xy[1]) * _ONE))


def _line(canvas, a, b, colour, width_px: float) -> None:
    cv2.line(canvas, _pt(a), _pt(b), colour, max(1, int(round(width_px))), cv2.LINE_AA, SHIFT)


def _disc(canvas, centre, radius_px: float, colour) -> None:
    cv2.circle(canvas, _pt(centre), max(_ONE // 2, int(round(radius_px * _ONE))), colour, -1, cv2.LINE_AA, SHIFT)


def _poly(canvas, points: list[np.ndarray], colour) -> None:
    cv2.fillConvexPoly(canvas, np.array([_pt(p) for p in points], np.int32), colour, cv2.LINE_AA, SHIFT)


def _box(canvas, centre: np.ndarray, half: np.ndarray, colour) -> None:
    _poly(canvas, [centre + half * np.array(c) for c in ((-1, -1), (1, -1), (1, 1), (-1, 1))], colour)


@dataclass(frozen=True)
class ObjectStyle:
    """How one clip's object looks: colour, size factor, tilt."""

    colour: tuple[int, int, int]
    size: float
    angle: float  # radians, the pen's or food's tilt


def sample_object_style(rng: np.random.Generator, hue: float) -> ObjectStyle:
    return ObjectStyle(colour=hsv_colour(hue + rng.uniform(-8, 8), rng.uniform(0.8, 1.0), rng.uniform(0.75, 1.0)),
                       size=rng.uniform(0.85, 1.2), angle=rng.uniform(-0.6, 0.6))


@dataclass(frozen=True)
class Desk:
    """A desk in front of the figure: its top is a band the hands rest on, its front hides the hips."""

    centre_x: float
    top_y: float
    top_height: float
    front_height: float
    half_width: float
    top_colour: tuple[int, int, int]
    front_colour: tuple[int, int, int]
    depth: float = 0.09  # in front of the torso, behind the forearms

    def contains(self, points: np.ndarray) -> np.ndarray:
        """... x 2 -> ... bool: is the point inside the desk's silhouette."""
        x, y = points[..., 0], points[..., 1]
        return (np.abs(x - self.centre_x) <= self.half_width) & (y >= self.top_y) & (
            y <= self.top_y + self.top_height + self.front_height)


def draw_desk(canvas: np.ndarray, desk: Desk) -> None:
    x0, x1 = desk.centre_x - desk.half_width, desk.centre_x + desk.half_width
    y0, y1, y2 = desk.top_y, desk.top_y + desk.top_height, desk.top_y + desk.top_height + desk.front_height
    inset = 0.1 * desk.half_width  # the far edge looks narrower: a hint of perspective
    _poly(canvas, [np.array([x0 + inset, y0]), np.array([x1 - inset, y0]), np.array([x1, y1]), np.array([x0, y1])],
          desk.top_colour)
    _poly(canvas, [np.array([x0, y1]), np.array([x1, y1]), np.array([x1, y2]), np.array([x0, y2])], desk.front_colour)


def draw_desk_object(canvas: np.ndarray, kind: str, style: ObjectStyle, centre: np.ndarray,
                     px_per_unit: float) -> None:
    """An object lying on the desk top, centred between the hands (book or keyboard)."""
    u = px_per_unit * style.size
    if kind == "book":  # open book: coloured cover, two white pages, a spine
        _box(canvas, centre, np.array([0.13, 0.05]) * u, style.colour)
        _box(canvas, centre, np.array([0.115, 0.038]) * u, (245, 245, 240))
        _line(canvas, centre - np.array([0, 0.038 * u]), centre + np.array([0, 0.038 * u]), style.colour, 0.012 * u)
    elif kind == "keyboard":  # coloured case, rows of darker keys
        half = np.array([0.16, 0.035]) * u
        _box(canvas, centre, half, style.colour)
        key = tuple(int(c * 0.55) for c in style.colour)
        for row in (-0.5, 0.0, 0.5):
            y = centre[1] + row * half[1]
            _line(canvas, np.array([centre[0] - 0.85 * half[0], y]), np.array([centre[0] + 0.85 * half[0], y]), key,
                  0.008 * u)
    else:
        raise ValueError(f"{kind!r} is not a desk object")


def draw_held_object(canvas: np.ndarray, kind: str, style: ObjectStyle, hand: np.ndarray,
                     px_per_unit: float) -> None:
    """An object in the hand at `hand` (canvas pixels): cup, food or pen."""
    u = px_per_unit * style.size
    if kind == "cup":  # upright mug, lit rim
        centre = hand + np.array([0.0, -0.015 * u])
        _box(canvas, centre, np.array([0.03, 0.042]) * u, style.colour)
        rim = tuple(int(0.7 * c + 0.3 * 255) for c in style.colour)
        cv2.ellipse(canvas, _pt(centre - np.array([0, 0.042 * u])), _pt(np.array([0.03, 0.01]) * u), 0, 0, 360, rim,
                    -1, cv2.LINE_AA, SHIFT)
    elif kind == "food":  # a roundish piece of fruit or a sandwich
        centre = hand + np.array([0.0, -0.02 * u])
        axes = _pt(np.array([0.042, 0.032]) * u)
        cv2.ellipse(canvas, _pt(centre), axes, np.degrees(style.angle), 0, 360, style.colour, -1, cv2.LINE_AA, SHIFT)
    elif kind == "pen":
        direction = np.array([np.sin(style.angle), 1.0])  # pointing down toward the paper
        direction /= np.linalg.norm(direction)
        _line(canvas, hand - 0.05 * u * direction, hand + 0.06 * u * direction, style.colour, max(2.0, 0.02 * u))
    else:
        raise ValueError(f"{kind!r} is not a hand-held object")


def draw_figure(canvas: np.ndarray, body: Body, pixels: np.ndarray, depth: np.ndarray, px_per_unit: float,
                extras: Sequence[tuple[float, Callable[[], None]]] = ()) -> None:
    """Limbs, torso and head, nearest last; `extras` (depth, draw) join the same depth order."""
    u = px_per_unit
    at = {name: pixels[i] for name, i in P.items()}
    z = {name: depth[i] for name, i in P.items()}
    items: list[tuple[float, Callable[[], None]]] = list(extras)

    def limb(a: str, b: str, colour, width: float, bias: float = 0.0) -> None:
        items.append(((z[a] + z[b]) / 2 + bias, lambda: _line(canvas, at[a], at[b], colour, width * u)))

    for side in ("left", "right"):
        limb(f"{side}_hip", f"{side}_knee", body.trousers, body.leg_width, -0.01)
        limb(f"{side}_knee", f"{side}_ankle", body.trousers, 0.85 * body.leg_width, -0.01)
        shoe = at[f"{side}_ankle"] + np.array([0, 0.012 * u])
        items.append((z[f"{side}_ankle"] - 0.005, lambda c=shoe: _disc(canvas, c, 0.035 * u, body.shoes)))
        limb(f"{side}_shoulder", f"{side}_elbow", body.shirt, body.arm_width, 0.01)
        limb(f"{side}_elbow", f"{side}_wrist", body.shirt if body.long_sleeves else body.skin, 0.85 * body.arm_width,
             0.011)
        limb(f"{side}_wrist", f"{side}_hand", body.skin, 0.7 * body.arm_width, 0.012)
        items.append((z[f"{side}_hand"] + 0.012,
                      lambda s=side: _disc(canvas, at[f"{s}_hand"], 0.028 * u, body.skin)))

    def torso() -> None:
        ls, rs, lh, rh = at["left_shoulder"], at["right_shoulder"], at["left_hip"], at["right_hip"]
        out = (lh - rh) / max(np.linalg.norm(lh - rh), 1e-6) * 0.5 * body.leg_width * u  # cover the thigh tops
        lw, rw = lh + 0.3 * (ls - lh), rh + 0.3 * (rs - rh)  # waist
        _poly(canvas, [ls, rs, rw, lw], body.shirt)
        _poly(canvas, [lw, rw, rh - out, lh + out], body.trousers)
        _line(canvas, ls, rs, body.shirt, body.arm_width * u)  # round shoulders

    items.append(((z["left_shoulder"] + z["right_shoulder"] + z["left_hip"] + z["right_hip"]) / 4 - 0.005, torso))
    limb("neck", "head", body.skin, 0.05, -0.004)

    def head() -> None:
        r = body.head_radius * u
        facing = at["nose"] - at["head"]  # where the face points, in the image
        _disc(canvas, at["head"] - 0.2 * facing + np.array([0, -0.12 * r]), 1.05 * r, body.hair)
        _disc(canvas, at["head"] + 0.35 * facing + np.array([0, 0.08 * r]), 0.85 * r, body.skin)
        if z["nose"] > z["head"]:  # eyes only when the face is toward the camera
            for eye in ("left_eye", "right_eye"):
                _disc(canvas, at[eye], max(0.5, 0.1 * r), (30, 25, 25))

    items.append((z["head"], head))
    for _, draw in sorted(items, key=lambda item: item[0]):
        draw()
