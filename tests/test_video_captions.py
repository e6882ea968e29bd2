"""MSR-VTT and VATEX readers on files written in the official layouts; bad videos skipped and counted."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmlookup.captioning.data import CaptionCollate
from mmlookup.data.coco import CaptionDataset
from mmlookup.data.video_captions import (
    read_msrvtt,
    read_vatex,
    read_video_references,
    vatex_file_stem,
)
from tests.test_caption_data import _video


def _msrvtt(root: Path) -> tuple[Path, Path]:
    """Official layout: TrainValVideo/ and TestVideo/ folders, 20 captions per video in the real set (2 here)."""
    (root / "TrainValVideo").mkdir(parents=True)
    (root / "TestVideo").mkdir()
    splits = {0: "train", 1: "train", 2: "validate", 3: "test", 4: "test"}
    files = []
    for name, keep, folder in (("train_val_videodatainfo.json", ("train", "validate"), "TrainValVideo"),
                               ("test_videodatainfo.json", ("test",), "TestVideo")):
        videos = [{"category": 3, "url": "https://www.youtube.com/watch?v=x", "video_id": f"video{i}",
                   "start time": 1.5, "end time": 9.0, "split": s, "id": i} for i, s in splits.items() if s in keep]
        sentences = [{"caption": f"clip {v['id']} caption {k}", "video_id": v["video_id"], "sen_id": 10 * v["id"] + k}
                     for k in range(2) for v in videos]
        for v in videos:
            if v["id"] == 4:
                (root / folder / "video4.mp4").write_bytes(b"\x00\x00 truncated")  # undecodable
            elif v["id"] != 1:  # video1 is missing
                _video(root / folder / f"{v['video_id']}.mp4", frames=6, size=32)
        f = root / name
        f.write_text(json.dumps({"info": {"year": 2016}, "videos": videos, "sentences": sentences}))
        files.append(f)
    return files[0], files[1]


def test_msrvtt_reader_splits_ids_and_folders(tmp_path: Path) -> None:
    train_val, test = _msrvtt(tmp_path)
    train = read_msrvtt(train_val, ["train"])
    assert [s.image_id for s in train] == [0, 1] and train[0].captions == ("clip 0 caption 0", "clip 0 caption 1")
    assert train[0].path == tmp_path / "TrainValVideo" / "video0.mp4" and train[0].split == "train"
    assert [s.image_id for s in read_msrvtt(train_val, ["validate"])] == [2]
    ts = read_msrvtt(test, ["test"], media_root=tmp_path)
    assert [s.path.parent.name for s in ts] == ["TestVideo", "TestVideo"]
    with pytest.raises(ValueError, match="valid: train, validate, test"):
        read_msrvtt(train_val, ["val"])
    (tmp_path / "x.json").write_text("[]")
    with pytest.raises(ValueError, match="not an MSR-VTT"):
        read_msrvtt(tmp_path / "x.json", ["train"])
    refs, order = read_video_references(test)
    assert order == [3, 4] and refs[3] == ["clip 3 caption 0", "clip 3 caption 1"]


def test_msrvtt_missing_and_broken_videos_are_skipped_and_counted(tmp_path: Path, caplog) -> None:
    train_val, test = _msrvtt(tmp_path)
    with caplog.at_level("WARNING"):
        samples = read_msrvtt(train_val, ["train", "validate"]) + read_msrvtt(test, ["test"])
    assert "1 of 3 videos not found" in caplog.text
    ds = CaptionDataset(samples, img_size=16, num_frames=4)
    batch = CaptionCollate(None, 8, with_captions=False)([ds[i] for i in range(len(ds))])
    assert batch.image_ids.tolist() == [0, 2, 3] and batch.skipped == 2 and ds.failures == 2
    assert batch.media.shape == (3, 3, 4, 16, 16)


def test_vatex_reader_kinetics_names_flat_or_per_label(tmp_path: Path) -> None:
    entries = [{"videoID": "Ptf_2VRj-V0_000122_000132", "enCap": [f"a man {k}" for k in range(10)],
                "chCap": ["..."] * 10},
               {"videoID": "abcdefghijk_5_15", "enCap": ["b"] * 10},
               {"videoID": "missing0000_000001_000011", "enCap": ["c"] * 10}]
    f = tmp_path / "vatex_training_v1.0.json"
    f.write_text(json.dumps(entries))
    assert vatex_file_stem("abcdefghijk_5_15") == "abcdefghijk_000005_000015"
    _video(tmp_path / "Ptf_2VRj-V0_000122_000132.mp4", frames=6, size=32)          # flat
    (tmp_path / "playing_guitar").mkdir()
    _video(tmp_path / "playing_guitar" / "abcdefghijk_000005_000015.mp4", frames=6, size=32)  # a folder per label
    samples = read_vatex(f)
    assert [s.image_id for s in samples] == [0, 1, 2] and len(samples[0].captions) == 10
    assert samples[0].path == tmp_path / "Ptf_2VRj-V0_000122_000132.mp4"
    assert samples[1].path == tmp_path / "playing_guitar" / "abcdefghijk_000005_000015.mp4"
    ds = CaptionDataset(samples, img_size=16, num_frames=4)
    batch = CaptionCollate(None, 8, with_captions=False)([ds[i] for i in range(3)])
    assert batch.image_ids.tolist() == [0, 1] and batch.skipped == 1
    refs, order = read_video_references(f)
    assert order == [0, 1, 2] and refs[1] == ["b"] * 10
    with pytest.raises(ValueError, match="not of the form"):
        vatex_file_stem("nounderscores")
    (tmp_path / "bad.json").write_text(json.dumps({"videos": []}))
    with pytest.raises(ValueError, match="not a VATEX"):
        read_vatex(tmp_path / "bad.json")
