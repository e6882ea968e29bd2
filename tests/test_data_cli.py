"""`mmlookup data scan / stats / synth` and the data-loader benchmark, end to end on small files."""
import os

import numpy as np
import pytest

from mmlookup.bench.data import main as bench_data_main
from mmlookup.data.cli import main
from mmlookup.data.encode import write_video


@pytest.fixture(scope="module")
def k400_with_bad_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("k400")
    frames = np.random.default_rng(0).integers(0, 255, (6, 64, 80, 3), dtype=np.uint8)
    write_video(str(root / "air drumming" / "aaaaaaaaaaa_000000_000010.mp4"), frames, 8)
    write_video(str(root / "air drumming" / "bbbbbbbbbbb_000005_000015.mp4"), frames[:1], 8)
    (root / "zumba").mkdir()
    (root / "zumba" / "ccccccccccc_000001_000011.mp4").write_bytes(b"")
    (root / "zumba" / "ddddddddddd_000002_000012.mp4").write_text("not a video")
    rows = ["air drumming,aaaaaaaaaaa,0,10,train,0", "air drumming,bbbbbbbbbbb,5,15,train,0",
            "zumba,ccccccccccc,1,11,train,0", "zumba,ddddddddddd,2,12,train,1", "zumba,eeeeeeeeeee,3,13,train,0"]
    (root / "train.csv").write_text("label,youtube_id,time_start,time_end,split,is_cc\n" + "\n".join(rows) + "\n")
    return root


@pytest.mark.parametrize("workers", ["1", "2"])
def test_scan_lists_every_bad_file(k400_with_bad_files, capsys, workers):
    root = k400_with_bad_files
    rc = main(["scan", str(root / "train.csv"), str(root), "--workers", workers])
    out = capsys.readouterr().out.strip().splitlines()
    assert rc == 1
    bad = {line.split("\t")[0]: line.split("\t")[2] for line in out[:-1]}
    assert bad.keys() == {"ccccccccccc_000001_000011", "ddddddddddd_000002_000012", "eeeeeeeeeee_000003_000013"}
    assert bad["ccccccccccc_000001_000011"].startswith("empty file")
    assert bad["eeeeeeeeeee_000003_000013"] == "missing file"
    assert out[-1].startswith("scanned 5 videos: 2 ok, 3 bad")


def _hanging_check(record, full):
    """Stands in for a decoder stuck in C code on one file."""
    import time

    from mmlookup.data.cli import _check

    if record.name.startswith("ddd"):
        time.sleep(600)
    return _check(record, full)


@pytest.mark.parametrize("workers", [1, 2])
def test_scan_reports_a_hanging_file_as_timed_out_and_goes_on(k400_with_bad_files, workers):
    from mmlookup.data.annotations import read_annotations
    from mmlookup.data.cli import _run

    root = k400_with_bad_files
    records = read_annotations("auto", str(root / "train.csv"), str(root)).records
    results = _run(_hanging_check, records, workers, "scan", 2.0, False)
    assert [r.record.name for r in results] == [r.name for r in records]  # order kept, nothing lost
    reasons = {r.record.name[:3]: r.reason for r in results}
    assert reasons["ddd"].startswith("timed out")
    assert reasons["aaa"] == "" and reasons["bbb"] == "" and reasons["ccc"].startswith("empty file")
    assert reasons["eee"] == "missing file"


def test_scan_clean_set_exits_zero(k400_with_bad_files, tmp_path, capsys):
    lst = tmp_path / "ok.txt"
    lst.write_text(f"{k400_with_bad_files / 'air drumming' / 'aaaaaaaaaaa_000000_000010.mp4'} 0\n")
    assert main(["scan", str(lst), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "1 ok, 0 bad" in out and "oversized" not in out
    # a video decoded far above the training size (short side 64 > 2 x 16) is listed, with the remedies; still rc 0
    assert main(["scan", str(lst), "--workers", "1", "--short-side", "16"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].endswith("oversized 80x64 (short side 64 > 2 x 16: ~16x the pixels to decode and convert)")
    assert "1 ok, 0 bad; 1 oversized" in out[-1] and "data resize" in out[-1]
    assert "--set data.decode_short_side=16" in out[-1]
    assert main(["scan", str(lst), "--workers", "1", "--short-side", "32"]) == 0  # 64 is not above 2 x 32
    assert "oversized" not in capsys.readouterr().out


def test_stats(k400_with_bad_files, capsys):
    root = k400_with_bad_files
    assert main(["stats", str(root / "train.csv"), str(root), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "5 videos, 2 readable, 3 unreadable" in out
    assert "frames     min 1" in out and "max 6" in out and "80x64: 2" in out


@pytest.mark.before_decord                               # `mmlookup data synth` generates twice
def test_synth_command(tmp_path, capsys):
    out_dir = tmp_path / "syn"
    rc = main(["synth", str(out_dir), "--tiny", "--num-classes", "2", "--images-train", "2", "--images-val", "2",
               "--workers", "1"])
    assert rc == 0
    assert "k400_train" in capsys.readouterr().out
    with open(out_dir / "k400" / "train.csv") as f:
        assert len(f.read().strip().splitlines()) == 1 + 2 * 2
    assert len(os.listdir(out_dir / "coco" / "images")) == 4
    # a complete set with the same seed and sizes is not rewritten; --force or other sizes rewrite it
    marker = out_dir / "SYNTHETIC_COMPLETE.json"
    stamp = marker.stat().st_mtime_ns
    assert main(["synth", str(out_dir), "--tiny", "--num-classes", "2", "--images-train", "2", "--images-val", "2",
                 "--workers", "1"]) == 0
    assert "nothing written" in capsys.readouterr().out and marker.stat().st_mtime_ns == stamp
    assert main(["synth", str(out_dir), "--tiny", "--num-classes", "2", "--images-train", "2", "--images-val", "2",
                 "--workers", "1", "--force"]) == 0
    assert "k400_train" in capsys.readouterr().out and marker.stat().st_mtime_ns != stamp


def test_unknown_subcommand():
    assert main(["frobnicate"]) == 2


def test_bench_data_smoke(capsys):
    rc = bench_data_main(["--workers", "0", "--clips", "2", "--batch-size", "2", "--num-frames", "4",
                          "--frame-interval", "2", "--crop-size", "32", "--source-videos", "1", "--source-frames",
                          "12", "--source-size", "64", "80", "--source-gop", "8"])
    out = capsys.readouterr().out
    assert rc == 0 and "| decord | 0 | 2 |" in out


def test_bench_data_options(capsys):
    rc = bench_data_main(["--workers", "0", "--clips", "4", "--batch-size", "2", "--num-frames", "4",
                          "--frame-interval", "2", "--crop-size", "32", "--source-videos", "2", "--source-frames",
                          "12", "--source-size", "64", "80", "--source-gop", "8", "--options", "decord", "torchcodec",
                          "short224", "ns2", "gop16"])
    out = capsys.readouterr().out
    from mmlookup.data.decode import backend_available

    expected = ["decord", "short224", "ns2", "gop16"] + (["torchcodec"] if backend_available("torchcodec")[0] else [])
    assert rc == 0 and all(f"| {o} | 0 | 4 |" in out for o in expected), out
