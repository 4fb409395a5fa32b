"""Motion samplers: a body and a random generator -> a pose track (what the figure does per frame).

Layouts: a `PoseTrack` holds per-frame arrays over T frames: `pelvis` T x 3 (body space, see
`figure`), scalar angles T (radians), `wrists` T x 2 x 3 (left, right) wrist targets in the torso
frame (origin at the pelvis, turning with the torso), `ankles` T x 2 x 3 in body space.

Timings are fractions of the clip (a clip holds one whole action, as in NTU); rhythms (waving,
clapping, fidgeting) are in Hz, so they look the same at any clip length. Each sampler makes the
same random draws whatever the class that calls it, which is what makes an object group's
keypoints carry no class information. Which hand acts is random: nothing depends on left vs right.
Directional pairs (raise/lower arms, squat down/stand up) are one sampler and its time reversal,
so the only difference between them is the order of the frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from crychic.sources.synthetic.figure import Body

LEFT, RIGHT = 0, 1
SIDE_SIGN = (1.0, -1.0)  # +x is the figure's left


@dataclass(frozen=True)
class PoseTrack:
    pelvis: np.ndarray
    torso_lean: np.ndarray
    torso_tilt: np.ndarray
    head_pitch: np.ndarray
    head_yaw: np.ndarray
    wrists: np.ndarray
    ankles: np.ndarray

    def reversed(self) -> PoseTrack:
        return PoseTrack(**{f.name: getattr(self, f.name)[::-1].copy() for f in fields(self)})


def ease(progress: np.ndarray) -> np.ndarray:
    """0 -> 1 with zero speed at both ends (smoothstep), clipped outside [0, 1]."""
    p = np.clip(progress, 0.0, 1.0)
    return p * p * (3 - 2 * p)


def wobble(rng: np.random.Generator, times: np.ndarray, amplitude: float, max_hz: float = 1.0,
           dims: int = 1) -> np.ndarray:
    """A smooth random signal (T x dims): three random sinusoids, the fidgeting of a living body."""
    freqs = rng.uniform(0.1, max_hz, size=(3, dims))
    phases = rng.uniform(0, 2 * np.pi, size=(3, dims))
    weights = rng.uniform(0.3, 1.0, size=(3, dims))
    signal = np.sum(weights * np.sin(2 * np.pi * freqs * times[:, None, None] + phases), axis=1)  # T x dims
    return amplitude * signal / np.sum(weights, axis=0)


def rest_wrist(body: Body, side: int) -> np.ndarray:
    """Wrist of an arm hanging relaxed at the side, in the torso frame."""
    s = SIDE_SIGN[side]
    reach = body.upper_arm + body.forearm
    return body.shoulder(s) + np.array([0.035 * s, -0.96 * reach, 0.03])


def idle(body: Body, times: np.ndarray, rng: np.random.Generator) -> PoseTrack:
    """Standing, arms hanging, with sway and fidgeting: the base every motion edits."""
    frames = len(times)
    stance = rng.uniform(0.7, 1.3) * body.hip_half
    pelvis = np.zeros((frames, 3))
    pelvis[:, 0] = wobble(rng, times, 0.012, 0.6)[:, 0]
    pelvis[:, 1] = body.standing_pelvis_height + wobble(rng, times, 0.003, 0.8)[:, 0]
    wrists = np.stack([rest_wrist(body, LEFT), rest_wrist(body, RIGHT)])[None] + wobble(
        rng, times, 0.012, 1.0, dims=6).reshape(frames, 2, 3)  # T x (2*3) -> T x 2 x 3
    ankles = np.broadcast_to(np.array([[stance, body.ankle_height, 0.0], [-stance, body.ankle_height, 0.0]]),
                             (frames, 2, 3)).copy()
    return PoseTrack(
        pelvis=pelvis,
        torso_lean=0.03 + wobble(rng, times, 0.03, 0.5)[:, 0],
        torso_tilt=wobble(rng, times, 0.03, 0.5)[:, 0],
        head_pitch=wobble(rng, times, 0.08, 0.7)[:, 0],
        head_yaw=wobble(rng, times, 0.15, 0.7)[:, 0],
        wrists=wrists,
        ankles=ankles,
    )


def hand_to_mouth(body: Body, times: np.ndarray, rng: np.random.Generator) -> PoseTrack:
    """One hand rises to the mouth, stays a moment, and (time permitting) comes back down."""
    base = idle(body, times, rng)
    side = int(rng.integers(2))
    s = SIDE_SIGN[side]
    frac = times / times[-1] if times[-1] > 0 else np.zeros_like(times)
    start = rng.uniform(0.0, 0.25)
    rise = rng.uniform(0.2, 0.35)
    hold = rng.uniform(0.15, 0.4)
    fall = rng.uniform(0.2, 0.35)
    up = ease((frac - start) / rise) * (1 - ease((frac - start - rise - hold) / fall))  # T, 0..1..0
    # The wrist stops below and in front of the mouth so that the hand (and what it holds) is at it.
    at_mouth = body.mouth() + np.array([0.03 * s + rng.uniform(-0.02, 0.02), -0.07 + rng.uniform(-0.02, 0.02),
                                        0.07 + rng.uniform(0.0, 0.03)])
    at_mouth = at_mouth + wobble(rng, times, 0.008, 2.0, dims=3)  # T x 3
    arc = np.array([0.0, 0.0, 0.08]) * np.sin(np.pi * up)[:, None]  # swing forward on the way
    wrists = base.wrists.copy()
    wrists[:, side] = base.wrists[:, side] + (at_mouth - base.wrists[:, side]) * up[:, None] + arc
    head_pitch = base.head_pitch - 0.15 * up  # the head tips back a little to drink or eat
    return _replace(base, wrists=wrists, head_pitch=head_pitch)


def at_desk(body: Body, times: np.ndarray, rng: np.random.Generator) -> PoseTrack:
    """Leaning over a desk, both hands on it making small movements, one hand busier."""
    base = idle(body, times, rng)
    frames = len(times)
    height = rng.uniform(0.06, 0.12)
    forward = rng.uniform(0.15, 0.21)
    spread = rng.uniform(0.06, 0.13)
    busy = int(rng.integers(2))
    amplitude = np.where(np.arange(2) == busy, rng.uniform(0.015, 0.03), rng.uniform(0.004, 0.012))
    wrists = np.zeros((frames, 2, 3))
    for side in (LEFT, RIGHT):
        rest = np.array([SIDE_SIGN[side] * spread, height, forward])
        wrists[:, side] = rest + wobble(rng, times, amplitude[side], 3.0, dims=3) * np.array([1.0, 0.5, 0.6])
    lean = rng.uniform(0.08, 0.25)
    pitch = rng.uniform(0.25, 0.5)
    return _replace(base, wrists=wrists, torso_lean=base.torso_lean + lean, head_pitch=base.head_pitch + pitch)


def wave(body: Body, times: np.ndarray, rng: np.random.Generator) -> PoseTrack:
    """One hand goes up beside the head and swings side to side."""
    base = idle(body, times, rng)
    side = int(rng.integers(2))
    s = SIDE_SIGN[side]
    frac = times / times[-1] if times[-1] > 0 else np.zeros_like(times)
    start, rise = rng.uniform(0.0, 0.2), rng.uniform(0.12, 0.25)
    lower_at = rng.uniform(0.75, 1.2)  # > 1: still waving when the clip ends
    up = ease((frac - start) / rise) * (1 - ease((frac - lower_at) / 0.2))
    hz, swing = rng.uniform(1.5, 3.0), rng.uniform(0.05, 0.09)
    raised = body.shoulder(s) + np.array([s * rng.uniform(0.12, 0.2), rng.uniform(0.16, 0.24),
                                          rng.uniform(0.0, 0.08)])
    raised = raised + np.outer(np.sin(2 * np.pi * hz * times + rng.uniform(0, 2 * np.pi)), [swing, 0.0, 0.0])
    wrists = base.wrists.copy()
    wrists[:, side] = base.wrists[:, side] + (raised - base.wrists[:, side]) * up[:, None]
    return _replace(base, wrists=wrists)


def clap(body: Body, times: np.ndarray, rng: np.random.Generator) -> PoseTrack:
    """Both hands come in front of the chest and meet, apart, meet..."""
    base = idle(body, times, rng)
    frac = times / times[-1] if times[-1] > 0 else np.zeros_like(times)
    start, rise = rng.uniform(0.0, 0.15), rng.uniform(0.1, 0.2)
    up = ease((frac - start) / rise)
    hz, widest = rng.uniform(1.8, 3.2), rng.uniform(0.12, 0.24)
    gap = 0.02 + (widest - 0.02) * (0.5 + 0.5 * np.cos(2 * np.pi * hz * times + rng.uniform(0, 2 * np.pi)))
    height, forward = rng.uniform(0.14, 0.24), rng.uniform(0.2, 0.25)
    wrists = base.wrists.copy()
    for side in (LEFT, RIGHT):
        front = np.stack([SIDE_SIGN[side] * gap / 2, np.full_like(gap, height), np.full_like(gap, forward)], -1)
        wrists[:, side] = base.wrists[:, side] + (front - base.wrists[:, side]) * up[:, None]
    return _replace(base, wrists=wrists)


def raise_arms(body: Body, times: np.ndarray, rng: np.random.Generator) -> PoseTrack:
    """Both straight-ish arms swing from hanging to overhead, sideways or to the front."""
    base = idle(body, times, rng)
    frac = times / times[-1] if times[-1] > 0 else np.zeros_like(times)
    start, duration = rng.uniform(0.05, 0.4), rng.uniform(0.3, 0.5)
    sideways = rng.uniform(0.0, 1.0)  # 1: arc in the image plane, 0: arc toward the camera
    top = rng.uniform(0.85, 0.95) * np.pi
    wrists = base.wrists.copy()
    for side in (LEFT, RIGHT):
        s = SIDE_SIGN[side]
        delay = rng.uniform(-0.04, 0.04)
        angle = top * ease((frac - start - delay) / duration)  # 0: hanging, ~pi: overhead
        radius = 0.95 * (body.upper_arm + body.forearm)
        arc = np.stack([s * radius * np.sin(angle) * sideways + 0.035 * s, -radius * np.cos(angle),
                        radius * np.sin(angle) * (1 - sideways) * 0.9 + 0.03], -1)
        wrists[:, side] = body.shoulder(s) + arc + (base.wrists[:, side] - rest_wrist(body, side))
    return _replace(base, wrists=wrists)


def squat_down(body: Body, times: np.ndarray, rng: np.random.Generator) -> PoseTrack:
    """Knees bend and the hips sink while the torso leans forward; arms may reach forward."""
    base = idle(body, times, rng)
    frac = times / times[-1] if times[-1] > 0 else np.zeros_like(times)
    start, duration = rng.uniform(0.05, 0.4), rng.uniform(0.3, 0.5)
    down = ease((frac - start) / duration)  # T
    depth = rng.uniform(0.16, 0.26)
    pelvis = base.pelvis.copy()
    pelvis[:, 1] -= depth * down
    pelvis[:, 2] -= 0.35 * depth * down  # hips go back as they go down
    lean = base.torso_lean + rng.uniform(0.3, 0.6) * down
    reach_forward = rng.random() < 0.5
    wrists = base.wrists.copy()
    for side in (LEFT, RIGHT):
        s = SIDE_SIGN[side]
        if reach_forward:  # arms out in front for balance
            reach = 0.9 * (body.upper_arm + body.forearm)
            target = body.shoulder(s) + np.array([0.02 * s, rng.uniform(-0.08, 0.0), reach])
        else:  # hands come to rest near the knees
            target = np.array([s * rng.uniform(0.08, 0.13), rng.uniform(-0.05, 0.05), rng.uniform(0.12, 0.2)])
        wrists[:, side] = base.wrists[:, side] + (target - base.wrists[:, side]) * down[:, None]
    stance = rng.uniform(1.0, 1.25)
    ankles = base.ankles.copy()
    ankles[:, :, 0] *= stance
    return _replace(base, pelvis=pelvis, torso_lean=lean, wrists=wrists, ankles=ankles)


def _replace(track: PoseTrack, **changes) -> PoseTrack:
    return PoseTrack(**{f.name: changes.get(f.name, getattr(track, f.name)) for f in fields(track)})


def _reversed(sampler: Callable[..., PoseTrack]) -> Callable[..., PoseTrack]:
    def sample(body: Body, times: np.ndarray, rng: np.random.Generator) -> PoseTrack:
        return sampler(body, times, rng).reversed()

    sample.__doc__ = f"{sampler.__name__}, played backwards."
    return sample


MOTIONS: dict[str, Callable[[Body, np.ndarray, np.random.Generator], PoseTrack]] = {
    "hand_to_mouth": hand_to_mouth,
    "at_desk": at_desk,
    "wave": wave,
    "clap": clap,
    "raise_arms": raise_arms,
    "lower_arms": _reversed(raise_arms),
    "squat_down": squat_down,
    "stand_up": _reversed(squat_down),
}
