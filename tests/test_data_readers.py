"""Annotation readers on small files written in the official layouts (K400 CSV, list, SSv2 JSON, folders)."""
import json
import os

import pytest

from mmlookup.data import build_video_dataset, detect_format, read_annotations
from mmlookup.data.annotations import load_class_list, read_folder, read_k400_csv, read_list_file, read_ssv2_json

K400_HEADER = "label,youtube_id,time_start,time_end,split,is_cc\n"


def _touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"x")
    return os.path.abspath(path)


def test_k400_csv_label_folders_spaces_and_missing(tmp_path):
    root = tmp_path / "videos"
    a = _touch(root / "air drumming" / "abcdefghijk_000010_000020.mp4")   # folder with spaces
    b = _touch(root / "playing_guitar" / "-zz_zz-zzzz_000003_000013.mp4")  # folder with underscores
    c = _touch(root / "zumba_000000_000010.mp4")                           # flat
    csv_path = tmp_path / "train.csv"
    csv_path.write_text(K400_HEADER
                        + "air drumming,abcdefghijk,10,20,train,1\n"
                        + "playing guitar,-zz_zz-zzzz,3,13,train,0\n"
                        + "zumba,zumba,0,10,train,0\n"
                        + '"rock, paper",missingid00,7,17,train,0\n')
    ann = read_k400_csv(str(csv_path), str(root))
    assert ann.classes == ["air drumming", "playing guitar", "rock, paper", "zumba"]
    paths = [r.path for r in ann.records]
    assert paths[:3] == [a, b, c]
    assert [r.label for r in ann.records] == [0, 1, 3, 2]
    assert ann.records[1].name == "-zz_zz-zzzz_000003_000013"
    missing = ann.records[3]
    assert not os.path.exists(missing.path) and missing.name == "missingid00_000007_000017"
    assert missing.path.endswith(os.path.join("rock,_paper", "missingid00_000007_000017.mp4"))


def test_k400_test_csv_without_labels(tmp_path):
    _touch(tmp_path / "v" / "abcdefghijk_000001_000011.mp4")
    csv_path = tmp_path / "test.csv"
    csv_path.write_text("youtube_id,time_start,time_end,split\nabcdefghijk,1,11,test\n")
    ann = read_k400_csv(str(csv_path), str(tmp_path / "v"), class_list=["a", "b"])
    assert ann.records[0].label == -1 and ann.classes == ["a", "b"]


def test_k400_class_list_and_unknown_label(tmp_path):
    csv_path = tmp_path / "val.csv"
    csv_path.write_text(K400_HEADER + "b c,id000000001,0,10,val,0\n")
    classes_txt = tmp_path / "classes.txt"
    classes_txt.write_text("a\nb c\nd\n")
    assert read_k400_csv(str(csv_path), str(tmp_path), labels_file=str(classes_txt)).records[0].label == 1
    assert read_k400_csv(str(csv_path), str(tmp_path), class_list=["b_c"]).records[0].label == 0
    with pytest.raises(ValueError, match="not in the class list"):
        read_k400_csv(str(csv_path), str(tmp_path), class_list=["a"])


def test_k400_header_checked(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("label,video\nx,y\n")
    with pytest.raises(ValueError, match="youtube_id"):
        read_k400_csv(str(bad), str(tmp_path))


def test_list_file_paths_with_spaces(tmp_path):
    lst = tmp_path / "train.txt"
    lst.write_text("# comment\nclass a/my video.mp4 1\nb/v2.mp4\t0\n\n/abs/v3.mp4 2\nunlabelled clip.mp4\n")
    ann = read_list_file(str(lst), str(tmp_path))
    assert [r.name for r in ann.records] == ["class a/my video.mp4", "b/v2.mp4", "/abs/v3.mp4", "unlabelled clip.mp4"]
    assert [r.label for r in ann.records] == [1, 0, 2, -1]
    assert ann.records[0].path == str(tmp_path / "class a" / "my video.mp4")
    assert ann.records[2].path == "/abs/v3.mp4"
    assert ann.classes == ["0", "1", "2"]
    with pytest.raises(ValueError, match=">= 2 classes"):
        read_list_file(str(lst), str(tmp_path), class_list=["x", "y"])


def _ssv2_files(tmp_path):
    labels = {"Pulling something from left to right": "1", "Pulling something from right to left": "0",
              "Holding something next to something": "2"}
    (tmp_path / "labels.json").write_text(json.dumps(labels))
    entries = [
        {"id": "78687", "label": "holding potato next to vicks vaporub bottle",
         "template": "Holding [something] next to [something]", "placeholders": ["potato", "vicks vaporub bottle"]},
        {"id": "42", "label": "pulling a box from left to right", "template": "Pulling [something] from left to right",
         "placeholders": ["a box"]},
    ]
    (tmp_path / "validation.json").write_text(json.dumps(entries))
    (tmp_path / "test.json").write_text(json.dumps([{"id": "5"}]))
    return _touch(tmp_path / "videos" / "78687.webm")


def test_ssv2_json_with_labels_beside(tmp_path):
    video = _ssv2_files(tmp_path)
    ann = read_ssv2_json(str(tmp_path / "validation.json"), str(tmp_path / "videos"))
    assert ann.classes == ["Pulling something from right to left", "Pulling something from left to right",
                           "Holding something next to something"]
    assert [r.label for r in ann.records] == [2, 1]
    assert ann.records[0].path == video
    assert ann.records[1].path == str(tmp_path / "videos" / "42.webm")  # missing: kept with its expected path
    assert read_ssv2_json(str(tmp_path / "test.json"), str(tmp_path)).records[0].label == -1


def test_ssv2_needs_a_label_map(tmp_path):
    (tmp_path / "train.json").write_text("[]")
    with pytest.raises(ValueError, match="labels.json"):
        read_ssv2_json(str(tmp_path / "train.json"), str(tmp_path))


def test_folder_per_class(tmp_path):
    a = _touch(tmp_path / "jumping jacks" / "1.mp4")
    b = _touch(tmp_path / "archery" / "sub" / "2.webm")
    _touch(tmp_path / "archery" / "notes.txt")
    ann = read_folder(str(tmp_path))
    assert ann.classes == ["archery", "jumping jacks"]
    assert [(r.path, r.label) for r in ann.records] == [(b, 0), (a, 1)]


def test_detect_format(tmp_path):
    _ssv2_files(tmp_path)
    (tmp_path / "k.csv").write_text(K400_HEADER)
    (tmp_path / "l.txt").write_text("a.mp4 0\n")
    assert detect_format(str(tmp_path / "k.csv")) == "k400"
    assert detect_format(str(tmp_path / "validation.json")) == "ssv2"
    assert detect_format(str(tmp_path / "l.txt")) == "list"
    assert detect_format(str(tmp_path)) == "folder"
    assert len(read_annotations("auto", str(tmp_path / "validation.json"), str(tmp_path)).records) == 2


def test_unknown_format_lists_valid_ones(tmp_path):
    with pytest.raises(ValueError, match="k400, ssv2, list, folder"):
        build_video_dataset("kinetics", str(tmp_path), str(tmp_path), train=True)
    with pytest.raises(ValueError, match="k400, ssv2, list, folder"):
        read_annotations("csv", str(tmp_path), str(tmp_path))


def test_load_class_list_formats(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(["x", "y"]))
    (tmp_path / "b.json").write_text(json.dumps({"y": "1", "x": "0"}))
    (tmp_path / "c.json").write_text(json.dumps({"y": "2", "x": "0"}))
    assert load_class_list(str(tmp_path / "a.json")) == ["x", "y"]
    assert load_class_list(str(tmp_path / "b.json")) == ["x", "y"]
    with pytest.raises(ValueError, match="0..1"):
        load_class_list(str(tmp_path / "c.json"))
