"""Decoding and the dataset: exact frames, and a full epoch with workers over good and bad files."""
import logging
import os

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mmlookup.data import VideoDecodeError, build_video_dataset, collate_clips, read_clip
from mmlookup.data.decode import check_video
from mmlookup.data.render import write_video

BAD = ("empty.mp4", "truncated.mp4", "cut_faststart.mp4", "text.mp4", "missing.mp4")


def _levels(n: int) -> np.ndarray:
    return 16 + 12 * np.arange(n)  # frame i has grey level 16 + 12 i


def _cut_faststart(src, dst, keep=0.6):
    """Remux ``src`` with the index (moov) first, then cut the media data: a download that stopped early."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst) + ".tmp.mp4", "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    data = open(str(dst) + ".tmp.mp4", "rb").read()
    os.remove(str(dst) + ".tmp.mp4")
    with open(dst, "wb") as f:
        f.write(data[: int(len(data) * keep)])


def _grey_video(path, n, h, w):
    frames = np.repeat(_levels(n).astype(np.uint8)[:, None, None, None], 3, axis=3)
    write_video(str(path), np.ascontiguousarray(np.broadcast_to(frames, (n, h, w, 3))), fps=8)


@pytest.fixture(scope="module")
def fixture_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    lines = []
    for i in range(6):
        _grey_video(root / f"good{i}.mp4", 18, 40, 64)
        lines.append(f"good{i}.mp4 {i % 2}")
    _grey_video(root / "one_frame.mp4", 1, 40, 64)
    _grey_video(root / "portrait.mp4", 10, 96, 64)
    _grey_video(root / "odd size.mp4", 10, 57, 75)
    lines += ["one_frame.mp4 0", "portrait.mp4 1", "odd size.mp4 0"]
    (root / "empty.mp4").write_bytes(b"")
    (root / "truncated.mp4").write_bytes((root / "good0.mp4").read_bytes()[:400])
    _cut_faststart(root / "good1.mp4", root / "cut_faststart.mp4")
    (root / "text.mp4").write_text("this is not a video\n")
    lines += [f"{name} {k % 2}" for k, name in enumerate(BAD)]
    (root / "list.txt").write_text("\n".join(lines) + "\n")
    return root


def test_read_clip_returns_exact_frames_with_duplicates(fixture_set):
    idx = np.array([[0, 5, 17, 5], [2, 2, 9, 16]])
    frames = read_clip(str(fixture_set / "good0.mp4"), lambda n: idx)
    assert frames.shape == (2, 4, 40, 64, 3) and frames.dtype == torch.uint8
    means = frames.float().mean(dim=(2, 3, 4)).numpy()
    assert np.abs(means - _levels(18)[idx]).max() < 4


@pytest.mark.parametrize("name,reason", [("empty.mp4", "empty"), ("truncated.mp4", "cannot open"),
                                         ("cut_faststart.mp4", "cannot open"), ("text.mp4", "cannot open"),
                                         ("missing.mp4", "missing")])
def test_bad_files_raise_decode_error(fixture_set, name, reason):
    with pytest.raises(VideoDecodeError, match=reason):
        check_video(str(fixture_set / name))


def test_full_epoch_with_workers_counts_bad_files(fixture_set):
    ds = build_video_dataset("list", "list.txt", str(fixture_set), train=True, num_frames=4, frame_interval=2,
                             crop_size=32)
    bad_indices = {i for i, r in enumerate(ds.records) if os.path.basename(r.path) in BAD}
    loader = DataLoader(ds, batch_size=3, num_workers=2, collate_fn=collate_clips, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    seen, replaced = 0, 0
    for batch in loader:
        assert batch.video.shape[1:] == (3, 4, 32, 32) and batch.video.dtype == torch.float32
        assert not set(batch.index.tolist()) & bad_indices
        assert set(batch.label.tolist()) <= {0, 1}
        seen += len(batch)
        replaced += int(batch.replaced.sum())
    assert seen == len(ds) == 14
    assert replaced == len(BAD)


def test_multi_view_test_samples(fixture_set):
    ds = build_video_dataset("list", "list.txt", str(fixture_set), train=False, num_frames=4, frame_interval=3,
                             num_clips=2, num_crops=3, crop_size=32, short_side=36)
    batch = collate_clips([ds[i] for i in range(len(ds))])
    assert batch.video.shape == (14, 6, 3, 4, 32, 32)
    assert int(batch.replaced.sum()) == len(BAD)
    assert ds.num_views == 6 and ds.num_classes == 2


def test_bad_file_logged_once_per_process(fixture_set, caplog):
    ds = build_video_dataset("list", "list.txt", str(fixture_set), train=False, num_frames=2, crop_size=32,
                             short_side=32)
    with caplog.at_level(logging.WARNING, logger="mmlookup.data.dataset"):
        for _ in range(2):
            for i in range(len(ds)):
                ds[i]
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == len(BAD)
    assert any("missing.mp4" in m and "missing file" in m for m in warned)


def test_only_bad_files_fail_clearly(fixture_set, tmp_path):
    (tmp_path / "bad.txt").write_text("".join(f"{fixture_set / name} 0\n" for name in BAD))
    ds = build_video_dataset("list", str(tmp_path / "bad.txt"), str(tmp_path), train=True, num_frames=2,
                             crop_size=16)
    with pytest.raises(RuntimeError, match="data scan"):
        ds[0]


def test_one_frame_video_repeats(fixture_set):
    ds = build_video_dataset("list", "list.txt", str(fixture_set), train=False, num_frames=5, frame_interval=4,
                             crop_size=32, short_side=40, mean=(0, 0, 0), std=(1, 1, 1))
    i = next(k for k, r in enumerate(ds.records) if r.path.endswith("one_frame.mp4"))
    sample = ds[i]
    assert sample.replaced == 0 and sample.video.shape == (3, 5, 32, 32)
    assert torch.allclose(sample.video[:, 1:], sample.video[:, :1].expand(3, 4, 32, 32))


def test_narrow_video_falls_back_to_pyav(tmp_path):
    # decord 0.6's get_batch fails on 48-px-wide frames; read_clip decodes them with PyAV instead
    _grey_video(tmp_path / "narrow.mp4", 12, 40, 48)
    idx = np.array([[11, 3, 3, 0]])
    frames = read_clip(str(tmp_path / "narrow.mp4"), lambda n: idx)
    assert frames.shape == (1, 4, 40, 48, 3)
    assert np.abs(frames.float().mean(dim=(2, 3, 4)).numpy() - _levels(12)[idx]).max() < 4


def test_audio_only_mp4_says_no_video_stream(tmp_path):
    import av

    path = tmp_path / "audio.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=16000)
        samples = np.zeros((1, 1024), dtype=np.float32)
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    with pytest.raises(VideoDecodeError, match=r"audio\.mp4: no video stream") as err:
        read_clip(str(path), lambda n: np.arange(min(n, 2)))
    assert "st_nb" not in str(err.value)


def test_a_file_that_does_not_open_gives_its_whole_reason_once_and_no_native_lines(fixture_set, capfd):
    capfd.readouterr()
    with pytest.raises(VideoDecodeError) as err:
        read_clip(str(fixture_set / "text.mp4"), lambda n: np.arange(2))
    # decord's exception says only `Error reading PATH...`; the why was on fd 2 (video_reader.cc, FFmpeg)
    assert err.value.reason == "cannot open: Invalid data found when processing input (moov atom not found)"
    with pytest.raises(VideoDecodeError, match="cannot open: .*partial file"):
        check_video(str(fixture_set / "cut_faststart.mp4"))
    native = capfd.readouterr().err
    assert native == "", native
    read_clip(str(fixture_set / "good0.mp4"), lambda n: np.arange(2))   # fd 2 is given back
    os.write(2, b"fd 2 works\n")
    assert capfd.readouterr().err == "fd 2 works\n"


def test_other_output_held_back_with_the_native_lines_is_given_back(capsys):
    from mmlookup.data.decode import _native_reason

    log = ("[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d0c0] moov atom not found\nepoch 0:  50%|#####     | 2/4\n"
           "[23:36:37] /src/video/video_reader.cc:83: ERROR opening: /x/a b, c.mp4, Invalid data found\n")
    assert _native_reason(log, RuntimeError("Error reading"), "/x/a b, c.mp4") == \
        "Invalid data found (moov atom not found)"
    assert capsys.readouterr().err == "epoch 0:  50%|#####     | 2/4\n"  # another thread's line, not a reason
