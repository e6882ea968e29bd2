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
        ("timm ViT (D=128)", "-"),
        # the token reducers on images, against their own ViT; ToMe's r = 8 for 256 patches scaled to 64: r = 2
        ("vit_nano", "-"), ("evit_nano rho=0.7", "-"), ("ats_nano budget=all", "-"), ("tome_nano r=2", "-")]
    assert abs(rows[0]["gflops"] / rows[4]["gflops"] - 1) < 1e-4 and all(r["batch"] == 2 for r in rows)
    assert rows[0]["gflops_ratio"] == 1.0 == rows[5]["gflops_ratio"]
    vit, evit, ats, tome = rows[5:]
    assert vit["gflops"] == rows[0]["gflops"] and evit["gflops_ratio"] > 1 and tome["gflops_ratio"] > 1
    assert tome["tokens"].startswith("65 (mean/layer")
    assert tome["speed_ratio"] == tome["clips_per_s"] / vit["clips_per_s"]


def test_bench_small_scales_tome_r_to_its_tokens():
    """`bench --small` runs ToMe on 196 patch tokens (8x112², tubelet 2x16x16), not its registered 1568: r = 100 would
    merge half of them in the first two layers; scaled to the same fraction per layer it is r = 13 (DeiT-S's)."""
    from mmlookup.bench.cli import _parse, build_cases, build_reducer_image_cases
    from mmlookup.encoders.tome import scale_r

    cases, shape = build_cases(_parse(["--small", "--no-timm", "--encoders", "vit_tiny", "tome_tiny"]))
    (tome,) = [c for c in cases if c.family == "tome"]
    assert shape == (3, 8, 112, 112) and tome.model.r == [13] * 12 and tome.label == "tome_tiny r=13"
    assert tome.model.token_schedule(197) == [197 - 13 * (i + 1) for i in range(12)]      # never capped
    images = build_reducer_image_cases(_parse([]))
    assert [c.label for c in images] == ["vit_small", "evit_small rho=0.7", "ats_small budget=all", "tome_small r=13"]
    assert scale_r(100, 1568, 1568) == 100 and scale_r([100, 50, 0], 1568, 49) == [3, 2, 0]
    assert build_reducer_image_cases(_parse(["--reducer-size", "none"])) == []
