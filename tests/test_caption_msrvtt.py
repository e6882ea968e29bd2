"""A synthetic video-caption run end to end through the MSR-VTT reader: train, evaluate, caption, eval-captions;
and the EViT reduced memory from a "trained ViT" checkpoint, frozen bit for bit."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

pytest.importorskip("pycocoevalcap")
pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="caption evaluation needs java (PTB tokenizer)")

from mmlookup.captioning.cli import caption_main, eval_captions_main  # noqa: E402
from mmlookup.captioning.train import fit  # noqa: E402
from mmlookup.config import load_recipe  # noqa: E402
from tests.test_caption_train import _classification_checkpoint  # noqa: E402

FAST = ["caption.decoder_width=32", "caption.decoder_layers=1", "caption.decoder_heads=2", "caption.num_beams=2",
        "caption.max_length=8", "train.tensorboard=False", "train.epochs=2", "train.max_steps=0",
        "train.batch_size=2", "eval.batch_size=4"]


@pytest.fixture(scope="module")
def data(synth_msrvtt: Path) -> Path:
    """Seed 1, only the caption clips (10 train, 3 val) and their MSR-VTT copy: made by tests/conftest.py before
    decord is loaded."""
    return synth_msrvtt


def _recipe(data: Path, run: Path, *extra: str):
    m = data / "msrvtt"
    return load_recipe("recipes/msrvtt/caption_synthetic.py:random", [
        f"caption.train_annotations={m / 'train_val_videodatainfo.json'}",
        f"caption.val_annotations={m / 'test_videodatainfo.json'}", f"caption.cache_dir={run / 'cache'}",
        f"train.output_dir={run}", *FAST, *extra])


def test_synthetic_msrvtt_run_end_to_end(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (data / "msrvtt" / "videos" / "video12.mp4").write_bytes(b"broken")  # a test clip: skipped and counted
    try:
        recipe = _recipe(data, tmp_path / "run")
        report = fit(recipe)
    finally:
        shutil.copyfile(data / "coco" / "videos" / "000013.mp4", data / "msrvtt" / "videos" / "video12.mp4")
    run = Path(recipe.train.output_dir)
    assert "frozen encoder weights: RANDOM" in (run / "log.txt").read_text()
    results = json.loads((run / "results_test.json").read_text())
    assert sorted(r["image_id"] for r in results) == [10, 11] and report.num_images == 2
    assert set(report.scores) >= {"Bleu_4", "METEOR", "ROUGE_L", "CIDEr"}
    # eval-captions on the official MSR-VTT file gives the run's own scores
    out = tmp_path / "scores.json"
    assert eval_captions_main([str(run / "results_test.json"), str(data / "msrvtt" / "test_videodatainfo.json"),
                               "--json", str(out)]) == 0
    assert json.loads(out.read_text())["CIDEr"] == pytest.approx(report.scores["CIDEr"])
    capsys.readouterr()
    assert caption_main(["--checkpoint", str(run), str(data / "msrvtt" / "videos" / "video10.mp4"),
                         "--num-beams", "2"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.split("\t")[1] == next(r["caption"] for r in results if r["image_id"] == 10)


def test_reduced_memory_from_trained_vit_weights_stays_frozen(data: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    ckpt = tmp_path / "vit_run"
    recipe = _recipe(data, tmp_path / "run", "model.encoder=evit_nano", "model.grids=[]", "model.encoder_kwargs={}",
                     "caption.memory=reduced",
                     "caption.memory_tokens=8", f"caption.encoder_checkpoint={ckpt}", "optim.weight_decay=0.5",
                     "caption.max_eval_samples=1")
    vit = load_recipe("recipes/msrvtt/caption_synthetic.py",
                      ["model.encoder=vit_nano", "model.grids=[]", "model.encoder_kwargs={}"])
    source = _classification_checkpoint(ckpt, vit)  # a ViT classification run: EViT runs on its weights as they are
    report = fit(recipe)
    assert report.num_images == 1
    saved = load_file(str(Path(recipe.train.output_dir) / "checkpoints" / "best" / "model.safetensors"))
    assert all(torch.equal(saved[f"encoder.{k}"], v) for k, v in source.items())
    log = (Path(recipe.train.output_dir) / "log.txt").read_text()
    assert f"frozen encoder weights: {ckpt}" in log and "reduced (8 tokens) memory" in log
    cache = torch.load(next((tmp_path / "run" / "cache").glob("eval_*.pt")), weights_only=True)
    assert all(h.shape[0] == 8 for h in cache["hidden"])


def test_cached_ragged_memory_equals_the_live_one(data: Path, tmp_path: Path) -> None:
    """ATS memories differ in length per clip: the cache keeps each clip's real tokens, collation re-pads them."""
    from mmlookup.captioning.cache import CACHE_DTYPE, compute_memory
    from mmlookup.captioning.data import load_splits, media_dataset, pad_memory
    from mmlookup.captioning.tokenizer import train_tokenizer
    from mmlookup.captioning.train import build_captioner

    recipe = _recipe(data, tmp_path / "run", "model.encoder=ats_nano", "model.grids=[]", "model.encoder_kwargs={}",
                     "caption.memory=reduced",
                     "caption.memory_tokens=24")
    train, _ = load_splits(recipe)
    media = torch.stack([media_dataset(recipe, train)[i].media for i in range(len(train))])
    torch.manual_seed(0)
    model = build_captioner(recipe, train_tokenizer(["a b c"])).eval()
    with torch.no_grad():  # sharper attention than a fresh init: peaked scores make ATS sample duplicates
        for blk in model.encoder.blocks:
            blk.attn.qkv.weight.mul_(6.0)
    live = model.encode(media)
    kept, hidden, masks = compute_memory(model, recipe, train, torch.device("cpu"), batch_size=4, num_workers=0,
                                         show_progress=False)
    assert live.mask is not None and len({h.shape[0] for h in hidden}) > 1  # ragged
    cached = pad_memory(hidden, masks)
    assert torch.equal(cached.mask, live.mask[:, : cached.mask.shape[1]])
    torch.testing.assert_close(cached.hidden[cached.mask].float(), live.hidden[live.mask].to(CACHE_DTYPE).float())
