"""The motion16 accuracy-benchmark task: balanced classes, determinism, colour never the answer, temporal pairs that
only the frame order separates; and the frame cache that serves it."""
import csv
import json
from collections import Counter

import numpy as np
import pytest
import torch

from mmlookup.data import build_video_dataset
from mmlookup.data.frame_cache import cache_frames, cached
from mmlookup.data.motion16 import (
    APPEARANCE_CLASSES,
    IMAGE_CLASSES,
    IMAGE_WNIDS,
    REVERSED,
    TEMPORAL_CLASSES,
    VIDEO_CLASSES,
    Motion16Sizes,
    draw_clip,
    draw_image,
    generate_motion16,
    motion16_complete,
)
from mmlookup.data.render import COLOURS, render

SIZES = Motion16Sizes(train_per_class=2, val_per_class=1, image_train_per_class=2, image_val_per_class=1)


@pytest.fixture(scope="module")
def data(motion16_small):
    assert motion16_complete(motion16_small, 5, SIZES)       # made by tests/conftest.py before decord is loaded
    return motion16_small


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_sixteen_balanced_classes_in_the_k400_and_imagenet_layouts(data):
    assert len(VIDEO_CLASSES) == 16 and len(set(VIDEO_CLASSES)) == 16
    assert len(APPEARANCE_CLASSES) == 6 and len(TEMPORAL_CLASSES) == 10
    train, val = _rows(data / "k400" / "train.csv"), _rows(data / "k400" / "validate.csv")
    assert Counter(r["label"] for r in train) == {c: 2 for c in VIDEO_CLASSES}
    assert Counter(r["label"] for r in val) == {c: 1 for c in VIDEO_CLASSES}
    assert (data / "k400" / "classes.txt").read_text().split("\n")[:-1] == sorted(VIDEO_CLASSES)
    assert len(list((data / "k400" / "videos").rglob("*.mp4"))) == 48
    solution = _rows(data / "imagenet" / "LOC_val_solution.csv")
    assert Counter(r["PredictionString"].split()[0] for r in solution) == {w: 1 for w in IMAGE_WNIDS.values()}
    for wnid in IMAGE_WNIDS.values():
        assert len(list((data / "imagenet" / "train" / wnid).glob("*.JPEG"))) == 2
    assert motion16_complete(data, 5, SIZES) and not motion16_complete(data, 6, SIZES)
    # the project's readers take both layouts
    ds = build_video_dataset("k400", str(data / "k400" / "validate.csv"), str(data / "k400"), train=False,
                             num_frames=8, frame_interval=1, crop_size=64, short_side=64)
    assert ds.num_classes == 16 and ds[0].video.shape == (3, 8, 64, 64)
    images = build_video_dataset("imagenet", str(data / "imagenet" / "val"), str(data / "imagenet"), train=False,
                                 num_frames=1, crop_size=64, short_side=64)
    assert images.num_classes == 8 and len(images) == 8


@pytest.mark.before_decord
def test_same_seed_same_files_other_seed_other_files(data, tmp_path):
    # the module's set (seed 5) is the first of the three: each generation here starts an interpreter once decord
    # is loaded, so a third one would cost seconds and test nothing more
    a = data
    b, c = (generate_motion16(str(tmp_path / name), seed=seed, sizes=SIZES, workers=1, progress=False)
            for name, seed in (("b", 5), ("c", 6)))
    for name in ("k400/train.csv", "k400/validate.csv", "imagenet/LOC_val_solution.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    for clip in sorted((a / "k400" / "videos").rglob("*.mp4"))[:4]:
        assert (b / clip.relative_to(a)).read_bytes() == clip.read_bytes()
    assert (c / "k400/train.csv").read_bytes() != (a / "k400/train.csv").read_bytes()


@pytest.mark.parametrize("backward,forward", sorted(REVERSED.items()))
def test_a_temporal_pair_is_the_same_frames_in_reverse_order(backward, forward):
    for seed in range(3):
        a = render(draw_clip(np.random.default_rng(seed), forward, "a.mp4"))
        b = render(draw_clip(np.random.default_rng(seed), backward, "b.mp4"))
        assert np.abs(a[::-1].astype(int) - b).max() <= 1  # float rounding at a shape's edge at most
        assert np.abs(a.astype(int) - b).mean() > 1.0  # and not simply the same clip: the order differs


def test_colour_is_never_the_answer_and_shape_only_for_appearance_classes():
    rng = np.random.default_rng(1)
    for label in VIDEO_CLASSES:
        specs = [draw_clip(rng, label, "x.mp4") for _ in range(40)]
        assert len({s.colour for s in specs}) >= len(COLOURS) - 1, label
        shapes = {(s.fill, s.shape) for s in specs}
        assert (len(shapes) == 1) == (label in APPEARANCE_CLASSES), label
    for label in IMAGE_CLASSES:
        specs = [draw_image(rng, label, "x.jpg") for _ in range(40)]
        assert len({s.colour for s in specs}) >= len(COLOURS) - 1
        assert {f"{s.fill} {s.shape}" for s in specs} == {label}


def test_speed_classes_differ_in_distance_not_direction():
    rng = np.random.default_rng(2)
    for label, lo, hi in (("moving slowly", 0.08, 0.16), ("moving fast", 0.4, 0.55)):
        steps = [draw_clip(rng, label, "x.mp4").cy for _ in range(30)]
        assert all(lo <= abs(cy[-1] - cy[0]) <= hi + 1e-9 for cy in steps)
        assert {np.sign(cy[-1] - cy[0]) for cy in steps} == {-1.0, 1.0}


def test_unknown_class_is_an_error():
    with pytest.raises(ValueError, match="unknown motion16 class"):
        draw_clip(np.random.default_rng(0), "dancing", "x.mp4")


def test_frame_cache_serves_the_same_samples_as_decoding(data, tmp_path):
    ds = build_video_dataset("k400", str(data / "k400" / "validate.csv"), str(data / "k400"), train=False,
                             num_frames=8, frame_interval=1, crop_size=56, short_side=64)
    fast = cached(ds, tmp_path / "val.npy", progress=False)
    assert np.load(tmp_path / "val.npy", mmap_mode="r").shape == (16, 8, 64, 64, 3)
    for i in range(len(ds)):
        assert torch.equal(fast[i].video, ds[i].video) and fast[i].label == ds[i].label
    mtime = (tmp_path / "val.npy").stat().st_mtime_ns
    cache_frames(ds, tmp_path / "val.npy", progress=False)  # complete and matching: reused
    assert (tmp_path / "val.npy").stat().st_mtime_ns == mtime
    train = build_video_dataset("k400", str(data / "k400" / "train.csv"), str(data / "k400"), train=True,
                                num_frames=8, frame_interval=1, crop_size=64, flip=False)
    cache_frames(train, tmp_path / "val.npy", progress=False)  # other records: rewritten
    assert np.load(tmp_path / "val.npy", mmap_mode="r").shape[0] == 32
    assert json.dumps(cached(train, tmp_path / "val.npy", progress=False)[3].video.shape[1:]) == "[8, 64, 64]"


def test_render_visibility_window_keyframe_path_and_stripes():
    from dataclasses import replace

    spec = draw_clip(np.random.default_rng(4), "appearing", "x.mp4")
    frames, empty = render(spec), render(replace(spec, visible=(2.0, 2.0)))  # never shown: background only
    shown = [not np.array_equal(f, e) for f, e in zip(frames, empty)]
    assert shown[0] is False and shown[-1] is True and shown == sorted(shown)  # hidden, then shown to the end
    path = replace(spec, visible=(0.0, 1.0), cx=(0.3, 0.7, 0.3), cy=(0.5,), angle=(0.0,), radius=(0.2, 0.2))  # 3 keys
    clip = render(path)
    assert np.array_equal(clip[0], clip[-1]) and not np.array_equal(clip[0], clip[len(clip) // 2])
    assert not np.array_equal(render(replace(path, fill="striped")), render(replace(path, fill="solid")))
    with pytest.raises(ValueError, match="unknown fill"):
        render(replace(path, fill="dotted"))
