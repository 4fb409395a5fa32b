"""PoseConv3D's PoseCompact as one square person box, and the mapping into the box's frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from crychic.heatmaps.render import generate_pose_target
from crychic.clips.person_box import box_to_frame_matrix, compact_box, crop_keypoints_to_box

IMG_SHAPE = (1080, 1920)  # H, W


def _person(rng, center=(900.0, 500.0), size=(200.0, 400.0), num_frames=8):
    """1 x T x 17 x 2 keypoints spread over a `size` (w, h) box around `center`, all scored."""
    offsets = rng.uniform(-0.5, 0.5, size=(1, num_frames, 17, 2)) * size
    return np.asarray(center) + offsets, np.ones((1, num_frames, 17))


def _size(box):
    x0, y0, x1, y1 = box
    return x1 - x0, y1 - y0


def test_box_is_square_padded_and_centred_on_the_tight_box():
    keypoint, score = _person(np.random.default_rng(0))
    box = compact_box(keypoint, score, IMG_SHAPE)
    low, high = keypoint.reshape(-1, 2).min(0), keypoint.reshape(-1, 2).max(0)
    width, height = _size(box)
    assert width == pytest.approx(height)
    assert width == pytest.approx((high - low).max() * 1.25)  # the longer side, padded by 25%
    np.testing.assert_allclose((box[:2] + box[2:]) / 2, (low + high) / 2)


def test_box_contains_every_scored_keypoint_and_ignores_unscored_ones():
    rng = np.random.default_rng(1)
    keypoint, score = _person(rng, num_frames=4)
    keypoint = np.concatenate([keypoint, _person(rng, center=(400.0, 600.0), num_frames=4)[0]])  # 2 persons
    score = np.ones(keypoint.shape[:-1])
    keypoint[0, 2, 5] = (1900.0, 10.0)  # a far-off detection...
    score[0, 2, 5] = 0.0  # ... that was not seen
    box = compact_box(keypoint, score, IMG_SHAPE)
    seen = keypoint[score > 0]
    assert (seen >= box[:2]).all() and (seen <= box[2:]).all()
    assert box[2] < 1900.0


@pytest.mark.parametrize("padding", [0.0, 0.25, 1.0])
def test_padding_grows_the_box_about_its_centre(padding):
    keypoint, score = _person(np.random.default_rng(2), size=(300.0, 300.0))
    tight_side = np.ptp(keypoint.reshape(-1, 2), axis=0).max()
    box = compact_box(keypoint, score, IMG_SHAPE, padding=padding)
    assert _size(box)[0] == pytest.approx(tight_side * (1 + padding))


def test_box_extends_past_the_image_for_a_person_at_the_border():
    keypoint, score = _person(np.random.default_rng(3), center=(60.0, 1000.0), size=(100.0, 150.0))
    box = compact_box(keypoint, score, IMG_SHAPE)
    assert box[0] < 0 and box[3] > IMG_SHAPE[0]
    assert _size(box)[0] == pytest.approx(_size(box)[1])  # still square, not clipped


@pytest.mark.parametrize("case", ["no scores", "tiny person"])
def test_fallback_is_the_whole_frame_as_a_square_about_its_centre(case):
    keypoint, score = _person(np.random.default_rng(4), size=(6.0, 8.0))  # under the 10 px threshold
    if case == "no scores":
        score = np.zeros_like(score)
    box = compact_box(keypoint, score, IMG_SHAPE)
    np.testing.assert_allclose(box, [0.0, 540.0 - 960.0, 1920.0, 540.0 + 960.0])


def test_hw_ratio_sets_height_over_width():
    keypoint, score = _person(np.random.default_rng(5), size=(300.0, 200.0))
    width, height = _size(compact_box(keypoint, score, IMG_SHAPE, hw_ratio=2.0))
    assert height == pytest.approx(2 * width)


def test_crop_maps_the_box_onto_the_output_frame_and_keeps_extra_channels():
    box = np.array([100.0, -50.0, 500.0, 350.0])
    keypoint = np.array([[[[100.0, -50.0, 0.9], [500.0, 350.0, 0.8], [300.0, 150.0, 0.7]]]], dtype=np.float32)
    mapped = crop_keypoints_to_box(keypoint, box, 56)
    np.testing.assert_allclose(mapped[0, 0, :, :2], [[0, 0], [56, 56], [28, 28]], atol=1e-5)
    np.testing.assert_array_equal(mapped[..., 2], keypoint[..., 2])
    assert mapped.dtype == np.float32 and keypoint[0, 0, 0, 0] == 100.0  # input untouched


def test_rgb_warp_and_heatmap_share_one_frame():
    """A bright spot drawn at a keypoint lands, after cv2.warpAffine with the box matrix, on the
    pixel where the heatmap of the mapped keypoint peaks."""
    image_shape, out_size = (240, 320), 56
    keypoint = np.array([[[[151.0, 97.0]] * 17]])  # 1 x 1 x 17 x 2, integer so the spot is one pixel
    box = np.array([130.0, 80.0, 158.0, 108.0])  # 28 px box -> 56 px frame (2x)
    image = np.zeros(image_shape, dtype=np.float32)
    image[97, 151] = 1.0
    warped = cv2.warpAffine(image, box_to_frame_matrix(box, out_size), (out_size, out_size), flags=cv2.INTER_LINEAR)
    mapped = crop_keypoints_to_box(keypoint, box, out_size)
    heatmap = generate_pose_target(mapped, np.ones((1, 1, 17)), (out_size, out_size))
    assert np.unravel_index(warped.argmax(), warped.shape) == np.unravel_index(heatmap[0, 0].argmax(), (56, 56))
    assert np.unravel_index(warped.argmax(), warped.shape) == (34, 42)  # ((97 - 80) * 2, (151 - 130) * 2)
