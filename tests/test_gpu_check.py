"""GPU readiness on CPU: the GPU check's code at tiny sizes, and bf16 autocast training steps on tiny models."""
import pytest
import torch

from mmlookup import create_encoder
from mmlookup.bench.throughput import device_peak_tflops


def _demo_like_folder(root):
    """A folder as `mmlookup demo` leaves it: runs/demo/lookupvit/checkpoints (here: no complete checkpoint) and
    data/. Tests run from it so nothing depends on what the repository's own runs/ and data/ hold."""
    (root / "runs/demo/lookupvit/checkpoints").mkdir(parents=True)
    (root / "data").mkdir()
    return root


def test_gpu_check_dry_run(tmp_path, monkeypatch):
    """From a folder with a demo run (the README's two commands in order: demo, then the tests), the check still
    passes: it trains the caption recipe on a random encoder with every path resolved against its work folder."""
    from mmlookup.bench.gpu_check import main

    monkeypatch.chdir(_demo_like_folder(tmp_path / "cwd"))
    out = tmp_path / "gpu_check.md"
    assert main(["--dry-run", "--out", str(out)]) == 0
    text = out.read_text()
    for needle in ("### Inference", "### One training step", "| vit_nano |", "| lookupvit_nano |", "| evit_nano",
                   "| ats_nano", "k400_lookupvit_b16_16x4 on synthetic K400", "caption_synthetic |", "MFU"):
        assert needle in text, needle


def test_caption_recipe_resolves_the_demo_run_once_against_the_current_folder(tmp_path, monkeypatch):
    from mmlookup.config import load_recipe, resolve_paths

    monkeypatch.chdir(tmp_path)
    assert load_recipe("coco/caption_synthetic").caption.encoder_checkpoint is None  # no demo run here
    cwd = _demo_like_folder(tmp_path / "cwd")
    monkeypatch.chdir(cwd)
    recipe = load_recipe("coco/caption_synthetic")
    assert recipe.caption.encoder_checkpoint == str(cwd.resolve() / "runs/demo/lookupvit")
    assert load_recipe("coco/caption_synthetic:random").caption.encoder_checkpoint is None
    monkeypatch.chdir(tmp_path)  # a later change of folder changes nothing
    moved = resolve_paths(recipe, "/elsewhere")
    assert moved.caption.encoder_checkpoint == recipe.caption.encoder_checkpoint
    assert moved.caption.train_annotations == "/elsewhere/data/synthetic/coco/captions_train.json"
    assert moved.caption.cache_dir == "/elsewhere/data/synthetic/coco/cache"
    assert moved.train.output_dir == "/elsewhere/runs/caption_synthetic"
    assert recipe.caption.cache_dir == "data/synthetic/coco/cache"  # a copy: the recipe itself is unchanged


def test_peak_table_knows_the_usual_gpus(monkeypatch):
    assert device_peak_tflops(torch.device("cpu")) is None
    for name, peak in (("NVIDIA H100 80GB HBM3", 989.0), ("NVIDIA H100 PCIe", 756.0), ("NVIDIA H200", 989.0),
                       ("NVIDIA A100-SXM4-80GB", 312.0), ("Some Future GPU", None)):
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None, n=name: n)
        assert device_peak_tflops(torch.device("cuda")) == peak


@pytest.mark.parametrize("name", ["vit_nano", "lookupvit_nano", "evit_nano", "ats_nano"])
def test_bf16_autocast_training_step(name):
    """The bench's training step under bf16 autocast (what runs on a GPU), on a 4-token clip: finite loss and
    gradients for every trained parameter, fp32 master weights updated."""
    from mmlookup.bench.train import make_step

    torch.manual_seed(0)
    model = create_encoder(name, num_frames=2, img_size=16).train()
    x = torch.randn(1, 3, 2, 16, 16)
    grid = (1, 1, 1) if name.startswith("lookupvit") else None
    step, loss_fn = make_step(model, x, grid, torch.device("cpu"), "bf16")
    seen = []
    hook = model.blocks[0].register_forward_hook(lambda m, i, o: seen.append(o[0].dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(x, **({} if grid is None else {"grid": grid}))
    hook.remove()
    assert seen and seen[0] in (torch.float32, torch.bfloat16)  # residual stream: fp32 (+ bf16 branch outputs)
    before = [p.detach().clone() for p in model.parameters()]
    loss = loss_fn()
    assert torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)
    step()
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
