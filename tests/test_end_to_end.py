"""The deployment paths' pure parts (the pipeline test runs both paths on real videos with MediaPipe)."""

import numpy as np

from crychic.evaluation.end_to_end import PartTimes
from crychic.rgb.decode import centre_box


def test_centre_box_is_the_largest_centred_square():
    assert np.allclose(centre_box(120, 160), [20, 0, 140, 120])
    assert np.allclose(centre_box(200, 100), [0, 50, 100, 150])


def test_part_times_accumulate_per_part():
    import time

    times = PartTimes()
    start = time.perf_counter() - 0.5
    times.add("pose", start)
    times.add("pose", start)
    assert times.seconds["pose"] >= 1.0 and set(times.seconds) == {"pose"}


def test_framings_without_keypoints():
    import pytest

    from crychic.rgb.decode import framing_box

    assert np.allclose(framing_box("centre", 120, 160), [20, 0, 140, 120])
    assert np.allclose(framing_box("full", 120, 160), [0, -20, 160, 140])  # the whole frame, padded to a square
    with pytest.raises(ValueError, match="framing"):
        framing_box("person", 120, 160)
