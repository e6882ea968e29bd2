"""Caption metrics: the official COCO example, direct pycocoevalcap calls, the CLI, bad input."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("pycocoevalcap")
pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="pycocoevalcap's PTB tokenizer/METEOR need java")

from mmlookup.captioning.cli import eval_captions_main  # noqa: E402
from mmlookup.metrics.caption import (  # noqa: E402
    _meteor,
    evaluate_results_file,
    load_results,
    score_captions,
    score_tokenized,
)

EXAMPLE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "coco_caption_example"


def _readme_section_b() -> dict[str, float]:
    """The expected scores as printed in the example README's section B table (not copied into this test)."""
    text = (EXAMPLE / "README.md").read_text()
    section = text.split("### B.")[1].split("###")[0]
    rows = re.findall(r"^\| (Bleu_\d|METEOR|ROUGE_L|CIDEr) \| ([0-9.e-]+) \|", section, flags=re.M)
    return {k: float(v) for k, v in rows}


@pytest.fixture(scope="module")
def example_dir() -> Path:
    if not EXAMPLE.is_dir():
        pytest.skip(f"COCO caption example not found at {EXAMPLE.resolve()} (needs shared/ beside the repo)")
    return EXAMPLE


def test_official_example_reproduces_readme_b(example_dir: Path) -> None:
    expected = _readme_section_b()
    assert set(expected) == {"Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr"}
    scores = evaluate_results_file(
        example_dir / "captions_val2014_fakecap_subset_results.json",
        example_dir / "captions_val2014_fakecap_subset_annotations.json",
        spice=True,
    )
    assert scores.num_images == 234
    got = scores.as_dict()
    assert "SPICE" not in got and any("SPICE unavailable" in n for n in scores.notes)
    for k, v in expected.items():
        assert got[k] == pytest.approx(v, abs=1e-6), k


def test_tokenized_example_matches_without_java_tokenizer(example_dir: Path) -> None:
    expected = _readme_section_b()
    tok = json.loads((example_dir / "captions_val2014_fakecap_subset_ptb_tokenized.json").read_text())
    scores = score_tokenized(tok["refs"], {k: v[0] for k, v in tok["hyps"].items()}, meteor=False).as_dict()
    for k in ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "ROUGE_L", "CIDEr"):
        assert scores[k] == pytest.approx(expected[k], abs=1e-9), k


HAND_REFS = {
    1: ["A man riding a horse on a beach.", "A person rides a brown horse near the sea!", "man on horseback, beach"],
    2: ["Two dogs play with a red ball in the grass.", "Dogs playing fetch on a lawn"],
    3: ["A plate of food with broccoli and rice.", "Broccoli, rice and chicken on a white plate."],
}
HAND_HYPS = {1: "a man rides a horse on the beach", 2: "two dogs playing in the grass .", 3: "a plate with rice"}


def test_hand_example_equals_direct_pycocoevalcap() -> None:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    tok = PTBTokenizer()
    gts = tok.tokenize({k: [{"caption": c} for c in v] for k, v in HAND_REFS.items()})
    res = tok.tokenize({k: [{"caption": v}] for k, v in HAND_HYPS.items()})
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    direct = {f"Bleu_{i + 1}": b for i, b in enumerate(bleu)}
    # pycocoevalcap's own scorer, called directly; the instance is the process's one Meteor() (each instance starts
    # a JVM that loads a 62 MB paraphrase table: a second one cost this test ~15 s and tests nothing more)
    meteor = _meteor()
    assert type(meteor) is Meteor
    direct["METEOR"], _ = meteor.compute_score(gts, res)
    direct["ROUGE_L"], _ = Rouge().compute_score(gts, res)
    direct["CIDEr"], _ = Cider().compute_score(gts, res)

    ours = score_captions(HAND_REFS, HAND_HYPS)
    assert ours.as_dict() == pytest.approx(direct, abs=1e-12)
    assert len(ours.per_image["CIDEr"]) == 3
    assert ours.cider > 0


def _write_coco(tmp_path: Path) -> tuple[Path, Path]:
    ann = {
        "images": [{"id": k, "file_name": f"{k}.jpg"} for k in HAND_REFS],
        "annotations": [
            {"id": 10 * k + j, "image_id": k, "caption": c} for k, v in HAND_REFS.items() for j, c in enumerate(v)
        ],
    }
    a = tmp_path / "ann.json"
    a.write_text(json.dumps(ann))
    r = tmp_path / "res.json"
    r.write_text(json.dumps([{"image_id": k, "caption": v} for k, v in HAND_HYPS.items()]))
    return r, a


def test_cli_prints_and_writes_scores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r, a = _write_coco(tmp_path)
    out = tmp_path / "scores.json"
    assert eval_captions_main([str(r), str(a), "--no-meteor", "--spice", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "CIDEr" in printed and "SPICE unavailable offline" in printed
    saved = json.loads(out.read_text())
    expected = score_captions(HAND_REFS, HAND_HYPS, meteor=False).as_dict()
    assert {k: saved[k] for k in expected} == pytest.approx(expected)
    assert "METEOR" not in saved


def test_bad_results_give_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r, a = _write_coco(tmp_path)
    r.write_text(json.dumps([{"image_id": 1, "caption": "x"}, {"image_id": 1, "caption": "y"}]))
    with pytest.raises(ValueError, match="appears twice"):
        load_results(r)
    r.write_text(json.dumps([{"image_id": 99, "caption": "x"}]))
    assert eval_captions_main([str(r), str(a), "--no-meteor"]) == 2
    assert "not in" in capsys.readouterr().err
    r.write_text(json.dumps({"image_id": 1}))
    with pytest.raises(ValueError, match="JSON list"):
        load_results(r)
