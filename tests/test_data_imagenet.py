"""ImageNet readers on real JPEG files in the official layouts: class folders, flat val with LOC_val_solution.csv,
class-index mapping, broken files logged once, replaced and counted."""
import logging
import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from mmlookup.data import build_video_dataset, read_annotations
from mmlookup.data.annotations import find_imagenet_solution, load_wnids, read_imagenet
from mmlookup.data.decode import VideoDecodeError, read_frames, read_image

WNIDS = ["n01440764", "n01443537", "n01484850"]


def _jpeg(path, value=0, size=(40, 30)):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rng = np.random.default_rng(value)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path, quality=90)
    return os.path.abspath(path)


def _train(root):
    return {w: [_jpeg(os.path.join(root, "train", w, f"{w}_{k}.JPEG"), 10 * i + k) for k in range(2)]
            for i, w in enumerate(WNIDS)}


def _flat_val(folder, csv_dir, labels):
    rows = ["ImageId,PredictionString"]
    for k, wnid in enumerate(labels, start=1):
        image_id = f"ILSVRC2012_val_{k:08d}"
        _jpeg(os.path.join(folder, image_id + ".JPEG"), 100 + k)
        rows.append(f"{image_id},{wnid} 1 2 30 20 {wnid} 3 4 10 10")  # several boxes: the first word is the class
    os.makedirs(csv_dir, exist_ok=True)
    with open(os.path.join(csv_dir, "LOC_val_solution.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")


def test_train_class_folders_sorted_wnids(tmp_path):
    files = _train(tmp_path)
    ann = read_imagenet(str(tmp_path / "train"))
    assert ann.classes == WNIDS
    assert [r.path for r in ann.records] == [p for w in WNIDS for p in files[w]]
    assert [r.label for r in ann.records] == [0, 0, 1, 1, 2, 2]
    assert ann.records[0].name == os.path.join(WNIDS[0], f"{WNIDS[0]}_0.JPEG")


def test_both_val_layouts_give_the_same_labels(tmp_path):
    labels = [WNIDS[2], WNIDS[0], WNIDS[1], WNIDS[0]]
    # Kaggle layout: the CSV four folders above the flat val folder
    flat = tmp_path / "ILSVRC" / "Data" / "CLS-LOC" / "val"
    _flat_val(str(flat), str(tmp_path), labels)
    assert find_imagenet_solution(str(flat)) == str(tmp_path / "LOC_val_solution.csv")
    a = read_imagenet(str(flat), class_list=WNIDS)
    assert [r.label for r in a.records] == [2, 0, 1, 0]
    assert [r.name for r in a.records] == [f"ILSVRC2012_val_{k:08d}" for k in range(1, 5)]
    # the same images sorted into class folders (the other common val layout)
    folders = tmp_path / "val_folders"
    for r, wnid in zip(a.records, labels):
        os.makedirs(folders / wnid, exist_ok=True)
        shutil.copy(r.path, folders / wnid / os.path.basename(r.path))
    b = read_imagenet(str(folders), class_list=WNIDS)
    assert sorted((os.path.basename(r.path), r.label) for r in b.records) == \
        sorted((os.path.basename(r.path), r.label) for r in a.records)
    # the CSV itself, the images under root; and through the format dispatcher
    c = read_annotations("imagenet", str(tmp_path / "LOC_val_solution.csv"), str(flat), class_list=WNIDS)
    assert [(r.path, r.label) for r in c.records] == [(r.path, r.label) for r in a.records]
    # without a class list, the index is the sorted wnids of the CSV
    assert read_imagenet(str(flat)).classes == sorted(set(labels))


def test_class_index_from_a_list_file_or_folder(tmp_path):
    _train(tmp_path)
    mapping = tmp_path / "LOC_synset_mapping.txt"
    order = [WNIDS[1], WNIDS[0], WNIDS[2], "n09999999"]  # file order is the index, names after the wnid ignored
    mapping.write_text("".join(f"{w} some name, other name\n" for w in order))
    assert load_wnids(str(mapping)) == order
    ann = read_imagenet(str(tmp_path / "train"), labels_file=str(mapping))
    assert ann.classes == order and [r.label for r in ann.records] == [1, 1, 0, 0, 2, 2]
    assert load_wnids(str(tmp_path / "train")) == WNIDS  # a folder: its sorted sub-folders
    with pytest.raises(ValueError, match="not in the class list"):
        read_imagenet(str(tmp_path / "train"), class_list=WNIDS[:2])
    with pytest.raises(ValueError, match="neither class folders nor a flat folder"):
        os.makedirs(tmp_path / "empty")
        read_imagenet(str(tmp_path / "empty"))
    # ImageNet-O style: unknown class folders accepted, unlabelled
    assert {r.label for r in read_imagenet(str(tmp_path / "train"), class_list=["x"], unlabelled=True).records} == {-1}


def test_image_is_a_one_frame_clip(tmp_path):
    path = _jpeg(str(tmp_path / "a.JPEG"), 1)
    frame = read_image(path)
    assert frame.shape == (1, 30, 40, 3) and frame.dtype == torch.uint8
    views = read_frames(path, lambda n: np.zeros((2, 3), dtype=np.int64) if n == 1 else None)
    assert views.shape == (2, 3, 30, 40, 3) and bool((views == frame[0]).all())
    gray = tmp_path / "g.jpg"
    Image.fromarray(np.full((8, 8), 77, dtype=np.uint8)).save(gray)  # grey JPEGs exist in ImageNet: read as RGB
    assert read_image(str(gray)).shape == (1, 8, 8, 3)


def test_broken_jpegs_are_logged_once_replaced_and_counted(tmp_path, caplog):
    _train(tmp_path)
    bad = tmp_path / "train" / WNIDS[0]
    good = open(bad / f"{WNIDS[0]}_0.JPEG", "rb").read()
    (bad / "truncated.JPEG").write_bytes(good[: len(good) // 2])
    (bad / "garbage.JPEG").write_bytes(b"this is not a jpeg" * 10)
    (bad / "empty.JPEG").write_bytes(b"")
    for name, reason in (("truncated", "cannot decode image"), ("garbage", "cannot decode image"),
                         ("empty", "empty file")):
        with pytest.raises(VideoDecodeError, match=reason):
            read_image(str(bad / f"{name}.JPEG"))
    ds = build_video_dataset("imagenet", str(tmp_path / "train"), str(tmp_path), train=False, num_frames=1,
                             crop_size=16, short_side=16)
    assert len(ds) == 9 and ds.classes == WNIDS
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            samples = [ds[i] for i in range(len(ds))]
    assert sum(s.replaced for s in samples) == 3
    assert all(s.video.shape == (3, 1, 16, 16) for s in samples)
    assert all(ds.records[s.index].label == s.label for s in samples)
    warned = [r.getMessage() for r in caplog.records if "unreadable" in r.getMessage()]
    assert len(warned) == 3 and any("truncated.JPEG" in w for w in warned)  # once per file, not per epoch


def test_missing_val_image_is_replaced(tmp_path):
    _flat_val(str(tmp_path / "val"), str(tmp_path), WNIDS)
    os.remove(tmp_path / "val" / "ILSVRC2012_val_00000002.JPEG")
    ds = build_video_dataset("imagenet", "val", str(tmp_path), train=True, num_frames=1, crop_size=16)
    assert ds.records[1].path.endswith("ILSVRC2012_val_00000002.JPEG") and not os.path.exists(ds.records[1].path)
    assert ds[1].replaced == 1 and ds[0].replaced == 0 and ds[0].video.shape == (3, 1, 16, 16)
