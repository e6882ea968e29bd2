"""COCO captions and Karpathy readers, media loading (image = 1 frame, video = clip), failure handling."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mmlookup.captioning.data import CachedCaptionDataset, CaptionCollate, pad_memory
from mmlookup.data.coco import (
    CaptionDataset,
    CaptionSample,
    load_media,
    make_transform,
    read_coco_captions,
    read_coco_references,
    read_karpathy,
)


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


@pytest.fixture()
def coco_file(tmp_path: Path) -> Path:
    return _write(tmp_path / "captions_val.json", {
        "info": {}, "licenses": [],
        "images": [{"id": 7, "file_name": "b.jpg"}, {"id": 3, "file_name": "a.jpg"}, {"id": 9, "file_name": "c.jpg"}],
        "annotations": [
            {"id": 1, "image_id": 3, "caption": "A cat."},
            {"id": 2, "image_id": 7, "caption": " A dog runs\n"},
            {"id": 3, "image_id": 3, "caption": "a black cat"},
        ],
    })


def test_coco_reader_groups_captions_in_file_order(coco_file: Path, tmp_path: Path) -> None:
    samples = read_coco_captions(coco_file)
    assert [s.image_id for s in samples] == [7, 3]  # image order of the file; id 9 has no caption
    assert samples[1].captions == ("A cat.", "a black cat")
    assert samples[0].path == tmp_path / "b.jpg"
    assert read_coco_captions(coco_file, media_root="/data/val2014")[0].path == Path("/data/val2014/b.jpg")
    refs, order = read_coco_references(coco_file)
    assert order == [7, 3] and refs[7] == [" A dog runs\n"]


def test_karpathy_reader_splits(tmp_path: Path) -> None:
    def img(cocoid: int, split: str, folder: str) -> dict:
        return {"filepath": folder, "filename": f"COCO_{folder}_{cocoid:012d}.jpg", "imgid": cocoid % 100,
                "cocoid": cocoid, "split": split,
                "sentences": [{"raw": f"caption {cocoid} {k}", "tokens": [], "imgid": 0, "sentid": k}
                              for k in range(2)]}

    images = [img(1, "train", "train2014"), img(2, "restval", "val2014"), img(3, "val", "val2014"),
              img(4, "test", "val2014")]
    f = _write(tmp_path / "dataset_coco.json", {"dataset": "coco", "images": images})
    train = read_karpathy(f, ["train", "restval"], media_root="/coco")
    assert [s.image_id for s in train] == [1, 2]
    assert train[1].path == Path("/coco/val2014/COCO_val2014_000000000002.jpg")
    assert train[0].captions == ("caption 1 0", "caption 1 1") and train[0].split == "train"
    assert [s.image_id for s in read_karpathy(f, ["test"])] == [4]
    with pytest.raises(ValueError, match="valid: train, restval, val, test"):
        read_karpathy(f, ["testing"])


def test_readers_reject_wrong_files(tmp_path: Path, coco_file: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_coco_captions(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="not a Karpathy"):
        read_karpathy(coco_file, ["test"])
    with pytest.raises(ValueError, match="not a COCO captions file"):
        read_coco_captions(_write(tmp_path / "x.json", {"images": []}))


def _jpeg(path: Path, h: int = 40, w: int = 60) -> Path:
    from PIL import Image

    img = torch.zeros(h, w, 3, dtype=torch.uint8)
    img[:, : w // 2, 0] = 255
    Image.fromarray(img.numpy()).save(path, quality=95)
    return path


def _video(path: Path, frames: int = 12, size: int = 64) -> Path:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=12)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            arr = torch.full((size, size, 3), 20 * i % 255, dtype=torch.uint8).numpy()
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_image_is_one_frame_and_video_is_a_clip(tmp_path: Path) -> None:
    tf = make_transform(32)
    image = load_media(_jpeg(tmp_path / "a.jpg"), num_frames=8, transform=tf)
    assert image.shape == (3, 1, 32, 32) and image.dtype == torch.float32
    # left half red: normalised red channel is high on the left, low on the right
    assert image[0, 0, :, :8].mean() > 1.5 and image[0, 0, :, -8:].mean() < -1.5
    clip = load_media(_video(tmp_path / "v.mp4"), num_frames=4, transform=tf)
    assert clip.shape == (3, 4, 32, 32)
    assert clip[:, 0].mean() < clip[:, -1].mean()  # frames are brighter later: time order kept


def test_unreadable_media_are_skipped_and_counted(tmp_path: Path) -> None:
    good = CaptionSample(1, _jpeg(tmp_path / "a.jpg"), ("a red thing",))
    bad = CaptionSample(2, tmp_path / "missing.jpg", ("nothing",))
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    broken = CaptionSample(3, tmp_path / "broken.mp4", ("nothing",))
    ds = CaptionDataset([good, bad, broken], img_size=16, num_frames=2)
    items = [ds[i] for i in range(3)]
    assert ds.failures == 2 and items[1].media is None and items[2].media is None
    batch = CaptionCollate(None, 8, with_captions=False)(items)
    assert batch.image_ids.tolist() == [1] and batch.skipped == 2 and batch.media.shape == (1, 3, 1, 16, 16)


def test_cached_items_pad_variable_memory() -> None:
    s = [CaptionSample(i, Path(f"{i}.jpg"), ("a",)) for i in range(2)]
    ds = CachedCaptionDataset(s, [torch.ones(3, 4), torch.ones(5, 4)], [None, None])
    mem = pad_memory([ds[0].hidden, ds[1].hidden], [None, None])
    assert mem.hidden.shape == (2, 5, 4) and mem.mask.tolist() == [[True] * 3 + [False] * 2, [True] * 5]
    same = pad_memory([torch.ones(3, 4), torch.ones(3, 4)], [None, None])
    assert same.mask is None
