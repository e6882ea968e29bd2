"""`mmlookup bench` end to end on a tiny configuration (numbers are not checked: speed is for benchmarks)."""
import json

from mmlookup.bench.cli import main


def test_bench_cli_tiny(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main(["--size", "nano", "--encoders", "vit_nano", "lookupvit_nano", "--grids", "2x4x4", "1x2x2",
                 "--frames", "8", "--img-size", "64", "--repeats", "1", "--format", "json", "--out", str(out),
                 "--no-images"])
    assert code == 0
    rows = json.loads(out.read_text())
    assert [r["model"] for r in rows] == ["vit_nano", "lookupvit_nano", "lookupvit_nano", "timm ViT (D=128)"]
    vit, lk4, lk1, timm = rows
    assert lk4["grid"] == "2x4x4" and lk4["tokens"] == "256 / 32"
    assert vit["gflops"] == timm["gflops"]  # the timm reference really runs the same number of tokens
    assert lk1["gflops"] < lk4["gflops"] < vit["gflops"]
    assert lk4["gflops_ratio"] == vit["gflops"] / lk4["gflops"]
    assert all(r["clips_per_s"] > 0 for r in rows)
    assert "vit_nano" in capsys.readouterr().out


def test_bench_train_tiny(tmp_path):
    """One AdamW step per model: exact activation bytes, LookupViT below ViT, ratios against the ViT row."""
    from mmlookup.bench.train import main as train_main

    out = tmp_path / "train.json"
    code = train_main(["--size", "nano", "--encoders", "vit_nano", "lookupvit_nano", "--grids", "2x2x2", "--frames",
                       "8", "--img-size", "64", "--repeats", "1", "--warmup", "0", "--format", "json",
                       "--out", str(out)])
    assert code == 0
    vit, lk = json.loads(out.read_text())
    assert (vit["model"], lk["model"], lk["grid"]) == ("vit_nano", "lookupvit_nano", "2x2x2")
    assert 0 < lk["activation_mb"] < vit["activation_mb"] and lk["activation_ratio"] < 1 == vit["activation_ratio"]
    assert lk["train_gmacs"] > 2 * lk["gmacs"] and lk["clips_per_s"] > 0 and vit["mfu"] is None


def test_saved_activation_bytes_counts_each_storage_once_without_parameters():
    import torch

    from mmlookup.bench.train import saved_activation_bytes

    lin = torch.nn.Linear(4, 4, bias=False)
    x = torch.randn(8, 4, requires_grad=True)
    # linear saves x (128 B) and its weight (excluded); x * x saves x twice (counted once); tanh saves its output
    got = saved_activation_bytes(lambda: torch.tanh(lin(x) + x * x), lin)
    assert got == 8 * 4 * 4 * 2


def test_bench_image_rows(tmp_path):
    out = tmp_path / "bench.json"
    code = main(["--size", "nano", "--encoders", "vit_nano", "lookupvit_nano", "--grids", "2x4x4", "--frames", "8",
                 "--img-size", "64", "--repeats", "1", "--image-batch", "2", "--format", "json", "--out", str(out)])
    assert code == 0
    rows = [r for r in json.loads(out.read_text()) if r["input"] == "64x64"]
    assert [(r["model"], r["grid"]) for r in rows] == [
        ("vit_nano", "-"), ("lookupvit_nano", "1x3x3"), ("lookupvit_nano", "1x5x5"), ("lookupvit_nano", "1x7x7"),
        ("timm ViT (D=128)", "-")]
    assert abs(rows[0]["gflops"] / rows[-1]["gflops"] - 1) < 1e-4 and all(r["batch"] == 2 for r in rows)
    assert rows[0]["gflops_ratio"] == 1.0
