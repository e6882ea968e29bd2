"""Loader options for feeding a fast accelerator: repeated augmentation, decode-time scaling, torchcodec."""
import numpy as np
import pytest
import torch

from mmlookup.data import build_video_dataset, collate_clips, read_clip
from mmlookup.data.decode import backend_available, scaled_size
from mmlookup.data.render import write_video


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("opts")
    rng = np.random.default_rng(0)
    # frame i: grey level 16 + 12 i plus a little texture, 48x80 (short side 48)
    for i in range(2):
        base = (16 + 12 * np.arange(20)).astype(np.uint8)[:, None, None, None]
        frames = np.broadcast_to(base, (20, 48, 80, 3)).copy()
        frames[:, :8, :8] = rng.integers(0, 255, (20, 8, 8, 3))
        write_video(str(root / f"v{i}.mp4"), frames, fps=8)
    (root / "list.txt").write_text("v0.mp4 0\nv1.mp4 1\n")
    return root


def test_scaled_size_keeps_aspect_with_even_sides():
    assert scaled_size(256, 340, 128) == (128, 170)
    assert scaled_size(340, 256, 128) == (170, 128)
    assert scaled_size(100, 200, 128) is None  # never upscales


def test_decode_short_side_scales_frames(videos):
    full = read_clip(str(videos / "v0.mp4"), lambda n: np.arange(4))
    small = read_clip(str(videos / "v0.mp4"), lambda n: np.arange(4), short_side=24)
    assert full.shape == (4, 48, 80, 3) and small.shape == (4, 24, 40, 3)
    # the grey level of each frame survives the scaling (away from the textured corner)
    assert np.allclose(small[:, 12:, 12:].float().mean((1, 2, 3)), full[:, 24:, 24:].float().mean((1, 2, 3)),
                       atol=3)


def test_num_sample_draws_several_augmented_clips_from_one_decode(videos, monkeypatch):
    import mmlookup.data.dataset as ds_mod

    calls = []
    real = ds_mod.read_frames
    monkeypatch.setattr(ds_mod, "read_frames", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    ds = build_video_dataset("list", str(videos / "list.txt"), str(videos), train=True, num_frames=4,
                             frame_interval=2, crop_size=32, num_sample=3)
    torch.manual_seed(0)
    samples = ds[1]
    assert len(calls) == 1 and len(samples) == 3
    assert all(s.video.shape == (3, 4, 32, 32) and s.label == 1 and s.index == 1 for s in samples)
    assert not torch.equal(samples[0].video, samples[1].video)  # own start and augmentation each
    batch = collate_clips([ds[0], samples])
    assert batch.video.shape == (6, 3, 4, 32, 32) and batch.label.tolist() == [0, 0, 0, 1, 1, 1]
    test_ds = build_video_dataset("list", str(videos / "list.txt"), str(videos), train=False, num_frames=4,
                                  crop_size=32, short_side=32, num_sample=3)
    assert test_ds.num_sample == 1 and not isinstance(test_ds[0], list)


def test_bad_options_are_one_line_errors(videos):
    with pytest.raises(ValueError, match="valid: decord, torchcodec"):
        build_video_dataset("list", str(videos / "list.txt"), str(videos), train=True, decoder="opencv")
    with pytest.raises(ValueError, match="num_sample must be >= 1"):
        build_video_dataset("list", str(videos / "list.txt"), str(videos), train=True, num_sample=0)


def test_torchcodec_backend_gives_decords_frames(videos):
    ok, why = backend_available("torchcodec")
    if not ok:
        assert why.startswith("torchcodec unavailable:")
        pytest.skip(why)
    idx = lambda n: np.array([[0, 3, 3, 7], [19, 2, 5, 0]])  # noqa: E731  (repeats and unsorted)
    ref = read_clip(str(videos / "v1.mp4"), idx)
    got = read_clip(str(videos / "v1.mp4"), idx, backend="torchcodec")
    assert got.shape == ref.shape == (2, 4, 48, 80, 3) and got.dtype == torch.uint8
    assert (got.int() - ref.int()).abs().float().mean() < 2  # same frames (colour conversion may differ by 1)


@pytest.mark.parametrize("tool", ["ffmpeg", "pyav"])
def test_resize_reencodes_to_short_side_and_gop(videos, tmp_path, tool):
    import shutil

    import av

    from mmlookup.data.resize import main as resize_main

    if tool == "ffmpeg" and not shutil.which("ffmpeg"):
        pytest.skip("the ffmpeg program is not installed")
    (videos / "sub").mkdir(exist_ok=True)
    shutil.copy(videos / "v0.mp4", videos / "sub" / "v2.mp4")
    out = tmp_path / "out"
    assert resize_main([str(videos), str(out), "--short-side", "24", "--gop", "4", "--workers", "1",
                        "--tool", tool]) == 0
    assert sorted(p.name for p in out.rglob("*.mp4")) == ["v0.mp4", "v1.mp4", "v2.mp4"]
    with av.open(str(out / "sub" / "v2.mp4")) as c:
        keys = [pk.is_keyframe for pk in c.demux(video=0) if pk.size]
        assert (c.streams.video[0].height, c.streams.video[0].width) == (24, 40)
    key_at = [i for i, k in enumerate(keys) if k] + [len(keys)]
    assert len(keys) == 20 and key_at[0] == 0 and max(b - a for a, b in zip(key_at, key_at[1:])) <= 4
    frames = read_clip(str(out / "v0.mp4"), lambda n: np.arange(n))
    assert frames.shape == (20, 24, 40, 3)
    assert resize_main([str(videos), str(out), "--short-side", "24", "--workers", "1", "--tool", tool]) == 0  # resume
