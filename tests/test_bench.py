"""`mmlookup bench` end to end on a tiny configuration (numbers are not checked: speed is for benchmarks)."""
import json

from mmlookup.bench.cli import main


def test_bench_cli_tiny(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main(["--size", "nano", "--encoders", "vit_nano", "lookupvit_nano", "--grids", "2x4x4", "1x2x2",
                 "--frames", "8", "--img-size", "64", "--repeats", "1", "--format", "json", "--out", str(out)])
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
