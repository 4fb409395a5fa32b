"""The wrist-share measure of the teacher's attention (crychic.evaluation.attention_focus)."""

import numpy as np
import pytest

from crychic.evaluation.attention_focus import clip_wrists, wrist_mask, wrist_share


def test_attention_on_the_wrist_scores_above_uniform_and_elsewhere_below():
    wrists = np.array([[[0.25, 0.5]]] * 4)  # T=4 frames, one wrist at u=0.25, v=0.5
    valid = np.ones((4, 1), bool)
    on = np.zeros((4, 16, 16))
    on[:, 8, 4] = 1.0  # pixel (row 8, col 4) sits at box (0.25, 0.5)
    off = np.zeros((4, 16, 16))
    off[:, 2, 14] = 1.0
    share_on, uniform = wrist_share(on, wrists, valid, radius=0.1)
    share_off, _ = wrist_share(off, wrists, valid, radius=0.1)
    flat, uniform_flat = wrist_share(np.ones((4, 16, 16)), wrists, valid, radius=0.1)
    assert share_on == 1.0 and share_off == 0.0
    assert flat == pytest.approx(uniform) and uniform_flat == uniform
    assert 0 < uniform < 0.2  # a disc of radius 0.1 covers about 3 % of the box


def test_invalid_wrists_and_halved_time_are_respected():
    wrists = np.zeros((8, 2, 2)) + 0.5
    valid = np.zeros((8, 2), bool)
    valid[::2, 0] = True  # only even frames have a seen wrist
    mask = wrist_mask((8, 8), wrists, valid, radius=0.2)
    assert mask[::2].any(axis=(1, 2)).all() and not mask[1::2].any()
    attention = np.ones((4, 8, 8))  # a stage that halved T: frame t <- keypoint frame 2t (even: valid)
    share, uniform = wrist_share(attention, wrists, valid, radius=0.2)
    assert uniform > 0 and share == pytest.approx(uniform)


def test_clip_wrists_maps_centred_box_coordinates_to_unit_box():
    keypoint = np.zeros((3, 2, 17, 1), np.float32)  # 3 x T x V x M
    keypoint[0, :, 9, 0], keypoint[1, :, 9, 0], keypoint[2, :, 9, 0] = -1.0, 1.0, 0.9  # left wrist at (0, 1)
    wrists, valid = clip_wrists(keypoint)
    assert wrists.shape == (2, 2, 2) and valid.tolist() == [[True, False]] * 2
    np.testing.assert_allclose(wrists[:, 0], [[0.0, 1.0]] * 2)
