"""Teacher maps carried from the heatmap's box frame onto a student grid of a framed clip, and the
oracle hand mask: pixel j of an N-pixel side at u = j / N on both sides."""

from __future__ import annotations

import pytest
import torch

from crychic.core.coco17 import JOINT_INDEX
from crychic.models.attention import align_attention, carry_to_frame, hand_mask


def spot(n: int, t: int, size: int, row: int, col: int) -> torch.Tensor:
    att = torch.zeros(n, 1, t, size, size)
    att[:, :, :, row, col] = 1.0
    return att


def argmax2d(plane: torch.Tensor) -> tuple[int, int]:
    return divmod(int(plane.argmax()), plane.shape[-1])


def test_identity_box_is_align_attention_on_the_same_grid():
    att = torch.rand(3, 1, 8, 14, 14) ** 4
    box = torch.tensor([[0.0, 0.0, 1.0, 1.0]] * 3)
    for frames in (8, 4, 16):
        torch.testing.assert_close(carry_to_frame(att, box, frames, (14, 14)), align_attention(att, frames, (14, 14)))
        torch.testing.assert_close(carry_to_frame(att, box, frames, (14, 14), renormalise=False),
                                   align_attention(att, frames, (14, 14), renormalise=False))


def test_identity_box_onto_a_smaller_grid_is_align_attention_but_half_a_teacher_pixel():
    # align_attention's F.interpolate puts output pixel i at teacher pixel 2i + 0.5 (half-pixel
    # centres), carry_to_frame at 2i (u = j / N): on a smooth map moved by that half pixel they agree.
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")

    def blob(x, y):
        return torch.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 3.0**2)).expand(2, 1, 4, 28, 28).clone()

    ours = carry_to_frame(blob(16, 10), torch.tensor([[0.0, 0.0, 1.0, 1.0]] * 2), 4, (14, 14))
    theirs = align_attention(blob(16.5, 10.5), 4, (14, 14))
    assert (ours - theirs).abs().max() < 0.03
    assert argmax2d(ours[0, 0, 0]) == (5, 8) == argmax2d(theirs[0, 0, 0])


@pytest.mark.parametrize(("box", "size"), [
    ((0.25, 0.125, 0.75, 0.625), 56),   # the box at half the clip: a 28 map on 28 grid pixels
    ((0.1, 0.3, 0.6, 0.8), 112),        # enlarged 2x
    ((-0.2, 0.0, 0.8, 1.0), 28),        # reaching past the clip's left edge
])
def test_a_single_peak_lands_where_the_box_puts_it(box, size):
    row, col = 10, 12  # teacher pixel: box position (12 / 28, 10 / 28)
    att = spot(1, 2, 28, row, col)
    out = carry_to_frame(att, torch.tensor([box]), 2, (size, size))
    u0, v0, u1, v1 = box
    expected = ((v0 + row / 28 * (v1 - v0)) * size, (u0 + col / 28 * (u1 - u0)) * size)
    got = argmax2d(out[0, 0, 0])
    assert abs(got[0] - expected[0]) <= 0.5 and abs(got[1] - expected[1]) <= 0.5, (got, expected)
    assert out[0, 0, 0].max() == 1  # renormalised per frame


def test_shrinking_averages_and_lands_the_peak():
    att = spot(1, 1, 28, 12, 8)
    out = carry_to_frame(att, torch.tensor([[0.5, 0.25, 0.75, 0.5]]), 1, (28, 28), renormalise=False)
    # The 28 map covers 7 grid pixels: each averages 4 x 4 map pixels, so mass is kept (1 / 16 each).
    assert out.sum().item() == pytest.approx(1 / 16, rel=1e-4)
    assert argmax2d(out[0, 0, 0]) == ((0.25 + 12 / 28 * 0.25) * 28, (0.5 + 8 / 28 * 0.25) * 28) == (10, 16)


def test_zero_outside_the_box_and_a_box_off_the_clip_gives_zeros():
    att = torch.ones(2, 1, 3, 7, 7)
    box = torch.tensor([[0.25, 0.5, 0.75, 1.0], [1.5, 1.5, 2.0, 2.0]])
    out = carry_to_frame(att, box, 3, (16, 16))
    inside = torch.zeros(16, 16, dtype=torch.bool)
    inside[8:16, 4:12] = True  # pixels j with j / 16 in [0.25, 0.75), i / 16 in [0.5, 1)
    assert (out[0, 0][:, inside] == 1).all() and (out[0, 0][:, ~inside] == 0).all()
    assert (out[1] == 0).all()


def test_a_flipped_item_in_the_dataset_convention_and_a_mirrored_box():
    # The dataset mirrors the heatmap with the clip: the map is flipped (u -> 1 - u), the box moves to
    # (1 - u1, ..., 1 - u0, ...). The peak must land where the unflipped one lands, mirrored.
    att = spot(1, 1, 28, 9, 5)
    box = torch.tensor([[0.2, 0.1, 0.7, 0.6]])
    plain = carry_to_frame(att, box, 1, (56, 56))
    flipped_map = torch.zeros_like(att)
    flipped_map[..., 1:] = att.flip(-1)[..., :-1]  # u -> 1 - u on a grid: pixel j -> N - j
    mirrored_box = torch.tensor([[1 - 0.7, 0.1, 1 - 0.2, 0.6]])
    flipped = carry_to_frame(flipped_map, mirrored_box, 1, (56, 56))
    r, c = argmax2d(plain[0, 0, 0])
    assert argmax2d(flipped[0, 0, 0]) == (r, 56 - c)
    # A box running backwards (u1 < u0) mirrors the map itself.
    backwards = carry_to_frame(att, torch.tensor([[0.8, 0.1, 0.3, 0.6]]), 1, (56, 56))
    assert argmax2d(backwards[0, 0, 0]) == (r, 56 - c)


def test_hand_mask_is_the_grown_wrists_in_the_heatmap_frame():
    heatmap = torch.zeros(2, 34, 3, 32, 32)
    heatmap[0, JOINT_INDEX["left_wrist"], :, 5, 6] = 0.8
    heatmap[0, JOINT_INDEX["right_wrist"], :, 20, 25] = 1.0
    heatmap[0, JOINT_INDEX["nose"], :, 2, 16] = 1.0  # not a hand
    mask = hand_mask(heatmap)
    assert mask.shape == (2, 1, 3, 32, 32)
    reach = 2 * (32 // 16) + 1  # 5 x 5 around each wrist
    assert (mask[0, 0, :, 18:23, 23:28] == 1).all() and (mask[0, 0, :, 3:8, 4:9] == 0.8).all()
    assert mask[0, 0, 0].gt(0).sum() == 2 * reach * reach and mask[0, 0, 0, 2, 16] == 0
    assert (mask[1] == 0).all()  # no wrist seen: no mask
    carried = carry_to_frame(mask, torch.tensor([[0.0, 0.0, 1.0, 1.0]] * 2), 3, (32, 32))
    torch.testing.assert_close(carried, mask)
