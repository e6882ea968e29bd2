"""The caption decoding bench runs and compares memories of the right sizes (no timing is asserted)."""
from __future__ import annotations

import json
from pathlib import Path

from mmlookup.bench.caption import main

TINY = ["--encoder", "lookupvit_nano", "--img-size", "32", "--num-frames", "4", "--grid", "2x2x2", "--batch-size", "2",
        "--max-length", "3", "--num-beams", "2", "--decoder-width", "32", "--decoder-layers", "1",
        "--decoder-heads", "2", "--vocab-size", "50", "--repeats", "1", "--warmup", "0"]


def test_bench_reports_compressed_lookup_and_both(tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench.json"
    assert main([*TINY, "--format", "json", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    rows = {r["memory"]: r for r in data["rows"]}
    assert set(rows) == {"compressed", "lookup", "both"}
    # image input: compressed grid 1x2x2 = 4 tokens, lookup grid 1x4x4 = 16 tokens
    assert rows["compressed"]["tokens"] == 4 and rows["lookup"]["tokens"] == 16 and rows["both"]["tokens"] == 20
    assert all(r["decode_captions_per_s"] > 0 and r["e2e_captions_per_s"] > 0 for r in rows.values())
    assert rows["lookup"]["decode_speedup"] == 1.0
    assert "beam 2" in data["setting"] and "3 tokens/caption" in data["setting"]
    capsys.readouterr()
    assert main([*TINY, "--input", "video", "--memories", "compressed"]) == 0
    table = capsys.readouterr().out
    assert "| compressed | 8 |" in table  # video: compressed grid 2x2x2
