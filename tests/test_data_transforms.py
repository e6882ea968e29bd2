"""Clip transforms: crops, flip with the label swap by name, RandAugment across frames, mixup/cutmix."""
import pytest
import torch

from mmlookup.data.transforms import ClipTransform, ClipTransformCfg, flip_label_map, mixup_cutmix

SSV2_NAMES = ["Pulling something from left to right", "Pulling something from right to left",
              "Pushing something from left to right", "Pushing something from right to left",
              "Turning the camera left while filming something", "Turning the camera right while filming something",
              "Holding something", "Moving something up"]


def test_flip_map_ssv2_names():
    assert flip_label_map(SSV2_NAMES) == {0: 1, 1: 0, 2: 3, 3: 2, 4: 5, 5: 4}


def test_flip_map_rotation_and_underscores():
    names = ["rotating_clockwise", "rotating anticlockwise", "moving left to right", "moving_right_to_left", "up"]
    assert flip_label_map(names) == {0: 1, 1: 0, 2: 3, 3: 2}
    assert flip_label_map(["turn left", "jump"]) == {}  # no partner: left unchanged


def _frames(v: int, t: int, h: int, w: int) -> torch.Tensor:
    return torch.zeros(v, t, h, w, 3, dtype=torch.uint8)


def test_train_flip_swaps_label_and_mirrors():
    frames = _frames(1, 4, 32, 32)
    frames[..., :, :16, :] = 255  # bright left half
    tf = ClipTransform(ClipTransformCfg(train=True, crop_size=32, rrc_scale=(1.0, 1.0), rrc_ratio=(1.0, 1.0),
                                        mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)), flip_map={0: 1, 1: 0})
    torch.manual_seed(0)
    seen = set()
    for _ in range(20):
        video, label = tf(frames, 0)
        assert video.shape == (1, 3, 4, 32, 32)
        left_bright = video[0, :, :, :, :16].mean() > video[0, :, :, :, 16:].mean()
        assert left_bright == (label == 0)  # flipped exactly when the label was swapped
        seen.add(label)
    assert seen == {0, 1}


def test_test_three_crops_positions():
    w, h = 300, 256
    frames = _frames(2, 3, h, w)
    frames[...] = (torch.arange(w) // 2).view(1, 1, 1, w, 1).to(torch.uint8)
    tf = ClipTransform(ClipTransformCfg(train=False, crop_size=224, short_side=256, num_crops=3,
                                        mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)))
    video, label = tf(frames, 7)
    assert video.shape == (6, 3, 3, 224, 224) and label == 7
    first_cols = (video[:, 0, 0, 0, 0] * 255).round().tolist()
    assert first_cols == [0, 19, 38] * 2  # crops start at x = 0, 38, 76 (values x // 2), clip-major order


def test_test_resize_portrait_centre_crop():
    frames = _frames(1, 2, 90, 45)
    tf = ClipTransform(ClipTransformCfg(train=False, crop_size=32, short_side=40))
    video, _ = tf(frames, 0)
    assert video.shape == (1, 3, 2, 32, 32)


def test_short_side_below_crop_rejected():
    with pytest.raises(ValueError, match="short_side"):
        ClipTransform(ClipTransformCfg(train=False, crop_size=224, short_side=200))


def test_randaugment_same_for_every_frame():
    torch.manual_seed(3)
    frame = torch.randint(0, 256, (1, 1, 48, 48, 3), dtype=torch.uint8)
    frames = frame.expand(1, 6, 48, 48, 3).contiguous()
    tf = ClipTransform(ClipTransformCfg(train=True, crop_size=32, flip=False, randaugment=True))
    for _ in range(10):
        video, _ = tf(frames, 0)
        assert torch.equal(video[0, :, 1:], video[0, :, :1].expand_as(video[0, :, 1:]))


def test_mixup_cutmix_targets_and_frames():
    torch.manual_seed(0)
    b, k = 6, 5
    base = torch.randn(b, 3, 1, 16, 16)
    video = base.expand(b, 3, 4, 16, 16).contiguous()
    label = torch.arange(b) % k
    for mix, cut in ((0.8, 0.0), (0.0, 1.0), (0.8, 1.0)):
        out, targets = mixup_cutmix(video, label, k, mix, cut, prob=1.0, label_smoothing=0.1)
        assert out.shape == video.shape and targets.shape == (b, k)
        assert torch.allclose(targets.sum(1), torch.ones(b))
        assert targets.min() >= 0.1 / k - 1e-6
        assert torch.equal(out[:, :, 1:], out[:, :, :1].expand_as(out[:, :, 1:]))  # same mix in every frame
        assert not torch.equal(out, video)


def test_mixup_off_gives_smoothed_one_hot():
    video, label = torch.randn(3, 3, 2, 8, 8), torch.tensor([0, 2, 1])
    out, targets = mixup_cutmix(video, label, 4, 0.8, 1.0, prob=0.0, label_smoothing=0.2)
    assert torch.equal(out, video)
    expected = torch.full((3, 4), 0.05)
    expected[torch.arange(3), label] = 0.85
    assert torch.allclose(targets, expected)
    with pytest.raises(ValueError, match="labels"):
        mixup_cutmix(video, torch.tensor([0, 4, 1]), 4)


def test_dataset_flip_defaults_and_swap(tmp_path, caplog):
    import json
    import logging

    from mmlookup.data import build_video_dataset

    (tmp_path / "labels.json").write_text(json.dumps({n: str(i) for i, n in enumerate(SSV2_NAMES)}))
    (tmp_path / "train.json").write_text(json.dumps([{"id": "1", "template": "Holding [something]"}]))
    ssv2 = build_video_dataset("ssv2", str(tmp_path / "train.json"), str(tmp_path), train=True)
    assert not ssv2.transform.cfg.flip  # SSv2: flip off unless asked
    swapped = build_video_dataset("ssv2", str(tmp_path / "train.json"), str(tmp_path), train=True, flip=True,
                                  flip_swap_by_name=True)
    assert swapped.transform.cfg.flip and swapped.transform.flip_map == flip_label_map(SSV2_NAMES)
    with caplog.at_level(logging.WARNING, logger="mmlookup.data.dataset"):
        build_video_dataset("ssv2", str(tmp_path / "train.json"), str(tmp_path), train=True, flip=True)
    assert "mirror-image partners" in caplog.text
