"""Figures carry the right numbers (read back from the artists) and save atomically."""

import numpy as np
import pytest
import torch

from crychic.reporting.figures import attention_overlay_figure, confusion_matrix_figure, save


def _counts():
    return np.array([[8, 2, 0], [1, 1, 2], [0, 0, 5]])


def test_confusion_figure_shows_row_normalised_values_and_annotations():
    counts = _counts()
    fig = confusion_matrix_figure(counts, ["a", "b", "c"], title="test")
    ax = fig.axes[0]
    shown = np.asarray(ax.images[0].get_array())
    assert np.allclose(shown.sum(axis=1), 100)  # percent of the true class
    assert np.allclose(shown[0], [80, 20, 0]) and np.allclose(shown[1], [25, 25, 50])
    labels = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    nonzero = list(zip(*np.nonzero(counts)))
    assert sorted(labels) == sorted(nonzero)  # empty cells carry no text
    for (row, column), text in labels.items():
        assert abs(float(text) - shown[row, column]) <= 0.5
    assert ax.get_title() == "test"
    assert not ax.lines  # no groups, no boundary lines


def test_confusion_figure_keeps_counts_and_zero_rows_when_not_normalised():
    counts = _counts()
    counts[1] = 0  # a class never seen
    ax = confusion_matrix_figure(counts, ["a", "b", "c"], title="raw", normalise=False).axes[0]
    assert np.array_equal(np.asarray(ax.images[0].get_array()), counts)
    assert [t.get_text() for t in ax.texts] == ["8", "2", "5"]  # row b is empty, zero cells are blank
    normalised = confusion_matrix_figure(counts, ["a", "b", "c"], title="n").axes[0]
    assert np.array_equal(np.asarray(normalised.images[0].get_array())[1], [0, 0, 0])


def test_group_lines_sit_between_classes_of_different_groups():
    counts = np.eye(4, dtype=int) * 3
    ax = confusion_matrix_figure(counts, list("abcd"), title="g", groups=["x", "x", "y", "z"]).axes[0]
    horizontal = sorted(line.get_ydata()[0] for line in ax.lines if line.get_ydata()[0] == line.get_ydata()[1])
    vertical = sorted(line.get_xdata()[0] for line in ax.lines if line.get_xdata()[0] == line.get_xdata()[1])
    assert horizontal == [1.5, 2.5] and vertical == [1.5, 2.5]


def test_confusion_figure_rejects_mismatched_names():
    with pytest.raises(ValueError):
        confusion_matrix_figure(_counts(), ["a", "b"], title="bad")


def test_attention_figure_has_three_rows_of_frames_and_blends_attention(tmp_path):
    rgb = np.full((8, 32, 32, 3), 128, dtype=np.uint8)  # T x S x S x 3, uniform: only attention varies
    teacher = torch.rand(12, 7, 7)  # T' x h x w, another time length
    student = np.zeros((8, 4, 4), dtype=np.float32)
    student[:, 0, 0] = 1  # hot top-left corner
    fig = attention_overlay_figure(rgb, teacher, student, num_frames=4)
    assert len(fig.axes) == 12
    grid = {(ax.get_subplotspec().rowspan.start, ax.get_subplotspec().colspan.start) for ax in fig.axes}
    assert grid == {(r, c) for r in range(3) for c in range(4)}
    first_column = [ax for ax in fig.axes if ax.get_subplotspec().colspan.start == 0]
    first_column.sort(key=lambda ax: ax.get_subplotspec().rowspan.start)
    plain, _, with_student = (np.asarray(ax.images[0].get_array()) for ax in first_column)
    assert np.array_equal(plain, rgb[0])
    assert with_student.shape == (32, 32, 3) and with_student.dtype == np.uint8
    # On a uniform frame, the hot corner differs from the cold opposite corner only through the
    # attention blended over it; the cold corner keeps the colour map's low end blended with grey.
    hot, cold = with_student[0, 0].astype(int), with_student[-1, -1].astype(int)
    assert np.abs(hot - cold).sum() > 60
    assert (with_student[-8:, -8:] == with_student[-1, -1]).all()  # the cold region is uniform
    assert np.abs(with_student[:2, :2].astype(int) - plain[:2, :2]).sum() > 0

    path = tmp_path / "attention.png"
    save(fig, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["attention.png"]  # no temporary left behind
