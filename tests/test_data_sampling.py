"""Frame sampling against hand-computed indices (dense, segment, multi-view, short videos)."""
import numpy as np
import pytest
import torch

from mmlookup.data.sampling import dense_indices, sample_indices, segment_indices


def test_dense_single_test_clip_is_centred():
    # n=100, T=4, interval 4 -> span 13, slack 87, centred start 43
    assert dense_indices(100, 4, 4, train=False).tolist() == [[43, 47, 51, 55]]


def test_dense_multi_clip_spans_video():
    # slack = 30 - 13 = 17; starts floor(k * 17 / 2 + 0.5) for k = 0, 1, 2 -> 0, 9, 17
    idx = dense_indices(30, 4, 4, train=False, num_clips=3)
    assert idx.tolist() == [[0, 4, 8, 12], [9, 13, 17, 21], [17, 21, 25, 29]]


def test_dense_short_video_loops():
    # span 13 > 6 frames: indices modulo 6
    assert dense_indices(6, 4, 4, train=False).tolist() == [[0, 4, 2, 0]]
    assert dense_indices(6, 4, 4, train=False, num_clips=2).tolist() == [[0, 4, 2, 0]] * 2


def test_one_frame_video():
    assert dense_indices(1, 5, 3, train=True).tolist() == [[0] * 5]
    assert segment_indices(1, 5, train=True).tolist() == [[0] * 5]
    assert segment_indices(1, 5, train=False, num_clips=2).tolist() == [[0] * 5] * 2


def test_dense_train_jitter_stays_in_range():
    torch.manual_seed(0)
    starts = set()
    for _ in range(200):
        idx = dense_indices(20, 4, 2, train=True)[0]
        assert idx.shape == (4,) and (np.diff(idx) == 2).all() and idx.min() >= 0 and idx.max() <= 19
        starts.add(int(idx[0]))
    assert starts == set(range(0, 14))  # span 7 -> starts 0..13, all reachable


def test_segment_test_centres():
    # n=10, T=4: segments of 2.5 frames; centres 1.25, 3.75, 6.25, 8.75 -> floor
    assert segment_indices(10, 4, train=False).tolist() == [[1, 3, 6, 8]]


def test_segment_two_clips():
    # positions 0.25 and 0.75 inside each 2.5-frame segment: 0.625, 3.125, ... and 1.875, 4.375, ...
    assert segment_indices(10, 4, train=False, num_clips=2).tolist() == [[0, 3, 5, 8], [1, 4, 6, 9]]


def test_segment_short_video_repeats_in_order():
    assert segment_indices(3, 6, train=False).tolist() == [[0, 0, 1, 1, 2, 2]]


def test_segment_train_one_frame_per_segment():
    torch.manual_seed(1)
    for _ in range(100):
        idx = segment_indices(40, 8, train=True)[0]
        assert ((idx // 5) == np.arange(8)).all()  # frame i comes from segment [5i, 5i+5)


def test_unknown_sampling_lists_valid():
    with pytest.raises(ValueError, match="dense, segment"):
        sample_indices("random", 10, 4, 1, train=True)


def test_bad_lengths_raise():
    with pytest.raises(ValueError):
        dense_indices(0, 4, 1, train=True)
    with pytest.raises(ValueError):
        dense_indices(10, 4, 0, train=True)
