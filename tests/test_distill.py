"""Distillation (``mmlookup.engine.distill``): losses against hand-computed values, the frozen teacher, checkpoints
without it, exact resume, ``model.init_from``, class-count mismatch, two processes."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from test_engine_smoke import ToyClips, _loss_by_step, toy_recipe

from mmlookup.cli import main
from mmlookup.config import DistillCfg, apply_overrides
from mmlookup.engine.checkpoint import latest_checkpoint
from mmlookup.engine.distill import (
    FeatureProjector,
    TeacherCache,
    build_teacher,
    distill_loss,
    hard_kd_loss,
    make_distiller,
    soft_kd_loss,
)
from mmlookup.engine.fit import build_accelerator, fit
from mmlookup.engine.loop import head_loss
from mmlookup.models import build_model


def _data() -> tuple[ToyClips, ToyClips]:
    """4 classes, 4 x 32 x 32 clips; batch 4: 4 steps per epoch. Made on call, never at import: a parent that has
    used torch's thread pool before ``debug_launcher`` forks deadlocks its children."""
    return ToyClips(16), ToyClips(6, seed=1)


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory) -> Path:
    """A vit_nano run on the toy clips (4 classes): the teacher of every test here."""
    tmp = tmp_path_factory.mktemp("teacher")
    recipe = toy_recipe(tmp, "vit_nano", "train.epochs=1", "train.max_steps=2")
    fit(recipe, accelerator=build_accelerator(recipe), datasets=_data())
    return tmp / "run"


def _student(tmp_path, teacher: Path, *extra: str, encoder: str = "lookupvit_nano"):
    return toy_recipe(tmp_path, encoder, f"distill.teacher={teacher}", *extra)


# ---- losses --------------------------------------------------------------------------------------------------

def test_soft_kd_is_hintons_kl_at_temperature_by_hand():
    s, t, tau = [1.0, 2.0, 0.5], [0.0, 3.0, 1.0], 2.0
    p_t = [math.exp(v / tau) / sum(math.exp(u / tau) for u in t) for v in t]
    log_z = math.log(sum(math.exp(u / tau) for u in s))
    log_p_s = [v / tau - log_z for v in s]
    expected = tau * tau * sum(p * (math.log(p) - lq) for p, lq in zip(p_t, log_p_s))
    got = soft_kd_loss(torch.tensor([s, s]), torch.tensor([t, t]), tau)  # mean over the batch of two equal rows
    assert got.item() == pytest.approx(expected, rel=1e-6)
    assert soft_kd_loss(torch.tensor([t]), torch.tensor([t]), tau).item() == pytest.approx(0.0, abs=1e-6)


def test_hard_kd_is_deits_definition():
    # DeiT (Touvron et al. 2021, eq. 3): (1 - a) CE(s, y) + a CE(s, argmax t); here a CE on the teacher's decision
    s = torch.tensor([[2.0, 0.0, -1.0], [0.1, 0.2, 0.3]])
    t = torch.tensor([[0.0, 5.0, 1.0], [9.0, 0.0, 0.0]])
    y = torch.tensor([0, 2])
    by_hand = sum(-(s[i, j] - torch.logsumexp(s[i], 0)) for i, j in enumerate((1, 0))) / 2
    assert hard_kd_loss(s, t).item() == pytest.approx(by_hand.item(), rel=1e-6)
    ce = F.cross_entropy(s, y)
    total = distill_loss("hard", s[:, None], ce, t, alpha=0.5)
    assert total.item() == pytest.approx(0.5 * ce.item() + 0.5 * by_hand.item(), rel=1e-6)


def test_distill_loss_sums_kd_over_student_heads_and_feature_loss_by_hand():
    torch.manual_seed(0)
    logits, t = torch.randn(3, 2, 5), torch.randn(3, 5)
    ce = head_loss(logits, torch.tensor([0, 1, 2]))
    got = distill_loss("soft", logits, ce, t, alpha=0.25, tau=3.0)
    kd = soft_kd_loss(logits[:, 0], t, 3.0) + soft_kd_loss(logits[:, 1], t, 3.0)
    assert got.item() == pytest.approx(0.75 * ce.item() + 0.25 * kd.item(), rel=1e-6)
    proj = FeatureProjector(4, 6, num_heads=2)
    f, g = torch.randn(3, 2, 4), torch.randn(3, 6)
    by_hand = sum(((f[:, h] @ p.weight.T + p.bias - g) ** 2).mean() for h, p in enumerate(proj.proj))
    got = distill_loss("feature", logits, ce, g, alpha=1.0, features=f, projector=proj)
    assert got.item() == pytest.approx(by_hand.item(), rel=1e-5)


def test_cache_keeps_top_k_and_hard_targets_exactly():
    cache = TeacherCache(k=2, num_classes=4)
    logits = torch.tensor([[0.5, 3.0, -1.0, 2.0], [1.0, 0.0, 0.0, 0.0]])
    dense = cache.put([(0, 0), (1, 0)], logits, keep=torch.tensor([True, False]))
    assert torch.equal(dense[0].isinf(), torch.tensor([True, False, True, False]))
    assert set(cache.store) == {(0, 0)}  # a replaced (unreadable) video is not cached
    assert cache.lookup([(0, 0), (1, 0)], torch.device("cpu")) is None and cache.misses == 2
    hit = cache.lookup([(0, 0)], torch.device("cpu"))
    assert cache.hits == 1 and torch.equal(hit, dense[:1])
    assert torch.equal(hit.argmax(-1), logits[:1].argmax(-1))


# ---- the teacher in training ---------------------------------------------------------------------------------

def test_teacher_is_frozen_in_eval_mode_and_unchanged_by_training(tmp_path, teacher_run):
    recipe = _student(tmp_path, teacher_run, "distill.kind=soft")
    teacher = build_teacher(recipe.distill, recipe)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    student = build_model(recipe, 4).train()
    d = make_distiller(recipe, teacher, student, torch.device("cpu"))
    opt = torch.optim.SGD(student.parameters(), lr=0.1)
    train, _ = _data()
    for _ in range(2):
        batch = torch.stack([train[j].video for j in range(4)])
        loss = d.step_loss(student, batch, None, lambda lg, tg: head_loss(lg, tg), torch.tensor([0, 1, 2, 3]))
        loss.backward()
        opt.step()
    assert not teacher.training and all(not m.training for m in teacher.modules())
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    after = teacher.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_distilled_checkpoints_hold_only_the_student(tmp_path, teacher_run):
    recipe = _student(tmp_path, teacher_run, "distill.kind=hard", "train.max_steps=2", "train.epochs=1")
    result = fit(recipe, accelerator=build_accelerator(recipe), datasets=_data())
    ckpt = latest_checkpoint(tmp_path / "run")
    saved = load_file(str(ckpt / "model.safetensors"))
    assert set(saved) == set(result.model.state_dict())  # the student's keys, nothing of the teacher
    assert not (ckpt / "model_1.safetensors").exists()
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "distilling from" in log and "kind hard" in log


def test_feature_projector_is_trained_and_saved_beside_the_student(tmp_path, teacher_run):
    recipe = _student(tmp_path, teacher_run, "distill.kind=feature", "train.max_steps=2", "train.epochs=1")
    fit(recipe, accelerator=build_accelerator(recipe), datasets=_data())
    ckpt = latest_checkpoint(tmp_path / "run")
    proj = load_file(str(ckpt / "model_1.safetensors"))
    assert set(proj) == {"proj.0.weight", "proj.0.bias", "proj.1.weight", "proj.1.bias"}  # two LookupViT heads
    assert proj["proj.0.weight"].shape == (128, 128)  # student width -> teacher width (both nano: D = 128)


def test_exact_resume_mid_distillation(tmp_path, teacher_run):
    extra = ["distill.kind=feature", "train.epochs=3", "train.batch_size=4"]
    straight = _student(tmp_path / "a", teacher_run, *extra, "train.max_steps=6")
    ra = fit(straight, accelerator=build_accelerator(straight), datasets=_data()).report
    first = _student(tmp_path / "b", teacher_run, *extra, "train.max_steps=2")  # stop mid-epoch
    fit(first, accelerator=build_accelerator(first), datasets=_data())
    second = _student(tmp_path / "b", teacher_run, *extra, "train.max_steps=6")
    rb = fit(second, resume="auto", accelerator=build_accelerator(second), datasets=_data()).report
    ca, cb = latest_checkpoint(tmp_path / "a" / "run"), latest_checkpoint(tmp_path / "b" / "run")
    for name in ("model.safetensors", "model_1.safetensors"):
        wa, wb = load_file(str(ca / name)), load_file(str(cb / name))
        assert all(torch.equal(wa[k], wb[k]) for k in wa), name
    la, lb = _loss_by_step(tmp_path / "a" / "run"), _loss_by_step(tmp_path / "b" / "run")
    assert [la[s] for s in range(3, 7)] == [lb[s] for s in range(3, 7)]
    assert ra.results == rb.results


# ---- init_from -----------------------------------------------------------------------------------------------

def test_init_from_teacher_copies_vit_blocks_into_lookupvit_and_reports_the_rest(tmp_path, teacher_run, capsys):
    recipe = _student(tmp_path, teacher_run, "model.init_from=teacher")
    student = build_model(recipe, 4)
    out = capsys.readouterr().out
    teacher = build_teacher(recipe.distill, recipe)
    t, s = teacher.encoder.state_dict(), student.encoder.state_dict()
    assert torch.equal(s["blocks.1.refine.attn.qkv.weight"], t["blocks.1.attn.qkv.weight"])
    assert torch.equal(s["norm_compressed.weight"], t["norm.weight"])
    assert torch.equal(s["patch_embed.proj.weight"], t["patch_embed.proj.weight"])
    assert "left new" in out and "blocks.*.q.weight" in out and "classifier heads: new" in out


def test_init_from_teacher_gives_evit_the_teacher_itself(tmp_path, teacher_run):
    recipe = _student(tmp_path, teacher_run, "model.init_from=teacher", "model.keep_rate=1.0", encoder="evit_nano")
    student, teacher = build_model(recipe, 4).eval(), build_teacher(recipe.distill, recipe)
    val = _data()[1]
    video = torch.stack([val[i].video for i in range(3)])
    with torch.no_grad():
        assert torch.allclose(student(video), teacher(video), atol=1e-5)  # encoder and head: keep rate 1 = the ViT


# ---- user errors ---------------------------------------------------------------------------------------------

def test_teacher_with_other_classes_is_one_line_rc2(tmp_path, teacher_run, capsys):
    for split in ("train", "val"):
        for c in ("up", "down"):
            (tmp_path / "data" / split / c).mkdir(parents=True)
            (tmp_path / "data" / split / c / "a.mp4").write_bytes(b"x")
    sets = [f"data.root={tmp_path / 'data'}", "data.synthetic=False", "data.format=folder",
            "data.train_annotations=train", "data.val_annotations=val", f"distill.teacher={teacher_run}",
            "train.batch_size=2", f"train.output_dir={tmp_path / 'run'}"]
    capsys.readouterr()
    assert main(["train", "synthetic/lookupvit_distill", *[x for kv in sets for x in ("--set", kv)]]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "has 4 classes but the student has 2" in err, err
    assert not (tmp_path / "run").exists()
    capsys.readouterr()
    assert main(["train", "synthetic/lookupvit_distill", "--set", f"distill.teacher={tmp_path / 'nothing'}"]) == 2
    assert "distill.teacher=" in capsys.readouterr().err


def test_recipe_checks():
    from mmlookup.config import Recipe

    with pytest.raises(ValueError, match="distill.kind"):
        apply_overrides(Recipe(), ["distill.kind=medium"]).validate()
    with pytest.raises(ValueError, match="needs distill.teacher"):
        apply_overrides(Recipe(), ["model.init_from=teacher"]).validate()
    with pytest.raises(ValueError, match="kind='feature'"):
        apply_overrides(Recipe(), ["distill.teacher=x", "distill.cache=true", "distill.kind=feature"]).validate()
    assert DistillCfg().teacher == ""  # off by default


# ---- two processes -------------------------------------------------------------------------------------------

def _distill_two_ranks(tmp: str, teacher: str) -> None:
    torch.set_num_threads(1)
    from test_distributed import _reset_accelerate_state

    _reset_accelerate_state()
    recipe = _student(Path(tmp), Path(teacher), "distill.kind=feature", "train.epochs=1", "train.batch_size=2")
    acc = build_accelerator(recipe, cpu=True)
    assert acc.num_processes == 2
    result = fit(recipe, accelerator=acc, datasets=_data())
    flat = torch.cat([p.detach().flatten() for p in result.model.parameters()])
    both = acc.gather(flat[None])
    assert torch.equal(both[0], both[1]), "student weights diverged across ranks"
    proj = acc.unwrap_model(result.distiller.projector)  # its gradients were all-reduced too
    flat = torch.cat([p.detach().flatten() for p in proj.parameters()])
    both = acc.gather(flat[None])
    assert torch.equal(both[0], both[1])


def test_two_process_distillation(tmp_path, teacher_run):
    code = ("import functools; from accelerate import debug_launcher; import test_distill as t; "
            f"debug_launcher(functools.partial(t._distill_two_ranks, {str(tmp_path)!r}, {str(teacher_run)!r}), "
            "num_processes=2)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(Path(__file__).parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}
    # 1200 s: on 2 cores shared with other jobs (load average ~20) this run took ~15 minutes
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "2 process(es)" in (tmp_path / "run" / "log.txt").read_text()


# ---- the K400 / ImageNet recipes on full-size inputs, small random teachers in the formats they name ---------

class RandomClips(torch.utils.data.Dataset):
    """``n`` random full-size clips ``(3, T, 224, 224)`` with labels ``i % num_classes`` (made on demand)."""

    def __init__(self, n: int, frames: int, num_classes: int) -> None:
        self.n, self.frames, self.num_classes = n, frames, num_classes

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        from mmlookup.data import ClipSample

        g = torch.Generator().manual_seed(i)
        return ClipSample(video=torch.randn(3, self.frames, 224, 224, generator=g), label=i % self.num_classes,
                          index=i, replaced=0)


def _few_steps(tmp_path, name: str, *sets: str):
    from mmlookup.config import load_recipe

    recipe = load_recipe(name, [*sets, "train.batch_size=1", "train.accum_steps=1", "train.max_steps=2",
                                "train.epochs=1", "train.num_workers=0", "train.precision=no",
                                "train.tensorboard=false", f"train.output_dir={tmp_path / name.replace('/', '_')}",
                                "eval.batch_size=1", "eval.num_workers=0", "eval.num_clips=1", "eval.num_crops=1"])
    frames = recipe.model.num_frames
    data = (RandomClips(2, frames, recipe.num_classes or 400), RandomClips(1, frames, recipe.num_classes or 400))
    return fit(recipe, accelerator=build_accelerator(recipe), datasets=data)


def test_k400_distillation_recipes_run_from_a_videomae_folder(tmp_path, capsys):
    transformers = pytest.importorskip("transformers")
    cfg = transformers.VideoMAEConfig(hidden_size=192, num_hidden_layers=2, num_attention_heads=3,
                                      intermediate_size=768, num_labels=400)  # 16 x 224 x 224, tubelet 2 x 16 x 16
    transformers.VideoMAEForVideoClassification(cfg).save_pretrained(tmp_path / "videomae")
    teacher = f"distill.teacher={tmp_path / 'videomae'}"
    result = _few_steps(tmp_path, "k400/lookupvit_b16_from_videomae", teacher, "model.encoder=lookupvit_tiny",
                        "model.encoder_kwargs={'pos_embed': 'sincos', 'depth': 2}")
    out = capsys.readouterr().out
    assert result.state.step == 2 and "refine blocks" in out and "left new" in out
    assert result.model.encoder.blocks[0].refine.norm1.eps == 1e-12  # VideoMAE's LayerNorm eps came with its blocks
    result = _few_steps(tmp_path, "k400/evit_b16_from_videomae", teacher, "model.encoder=evit",
                        "model.encoder_kwargs={'reduce_layers': (1,)}")
    assert result.state.step == 2 and "classifier head: imported (400 classes" in capsys.readouterr().out


def test_imagenet_distillation_recipe_runs_from_a_timm_state_dict(tmp_path, capsys):
    timm_vit = pytest.importorskip("timm.models.vision_transformer")
    src = timm_vit.VisionTransformer(img_size=224, patch_size=16, embed_dim=192, depth=12, num_heads=3,
                                     num_classes=1000)
    torch.save(src.state_dict(), tmp_path / "deit_tiny.pth")
    result = _few_steps(tmp_path, "imagenet/lookupvit_b16_from_deit", f"distill.teacher={tmp_path / 'deit_tiny.pth'}",
                        "distill.teacher_encoder=vit_tiny", "model.encoder=lookupvit_tiny", "num_classes=1000")
    assert result.state.step == 2 and result.distiller.cfg.kind == "hard"
    assert "classifier head: imported (1000 classes" in capsys.readouterr().out  # the teacher's own head


def test_cache_on_skips_the_teacher_in_later_epochs_and_logs_it(tmp_path, teacher_run):
    recipe = _student(tmp_path, teacher_run, "distill.cache=true", "distill.cache_views=1", "distill.cache_topk=3",
                      "train.epochs=2", "train.clip_grad=0.0", "model.drop_path_rate=0.0")
    result = fit(recipe, accelerator=build_accelerator(recipe), datasets=_data())
    c = result.distiller.cache
    assert c.misses == 16 and c.hits == 16 and len(c.store) == 16  # epoch 1 fills it, epoch 2 only reads it
    assert "16 clips from the cache, 16 through the teacher" in (tmp_path / "run" / "log.txt").read_text()


def test_bench_train_times_each_model_with_and_without_the_teacher():
    from mmlookup.bench.cli import Case
    from mmlookup.bench.train import _teacher, run_train_bench
    from mmlookup.registry import create_encoder

    shape = (3, 4, 32, 32)
    student = create_encoder("lookupvit_nano", num_frames=4, img_size=32)
    cases = [Case("lookupvit_nano", "lookupvit", student, (1, 2, 2))]
    teacher = _teacher("vit_nano", shape)
    rows = run_train_bench(cases, shape, 1, torch.device("cpu"), "fp32", warmup=0, repeats=1, teacher=teacher)
    assert [r.model for r in rows] == ["lookupvit_nano", "lookupvit_nano + teacher"]
    assert rows[0].teacher_overhead is None and rows[1].teacher_overhead is not None
    assert rows[1].gmacs == rows[0].gmacs  # the teacher's work is not counted in the student's GMACs
    assert all(p.grad is None for p in teacher.parameters())


def test_table_tool_plans_valid_commands_and_renders_mean_std(tmp_path):
    import json

    from mmlookup.config import load_recipe

    sys.path.insert(0, str(Path(__file__).parents[1] / "tools"))
    import distill_table

    for row in distill_table.ROWS:
        for cmd in distill_table.commands(row, 1, tmp_path, 5):
            i = cmd.index("-m") + 2
            sets = [cmd[j + 1] for j in range(len(cmd)) if cmd[j] == "--set"]
            recipe = load_recipe(cmd[i + 1], sets)  # every planned run is a recipe the CLI accepts
            assert recipe.train.seed == 1 or cmd[i] == "eval"
            if row in ("init", "soft", "hard", "feature"):  # initialised from the ViT: the distillation recipe's layout
                layout = load_recipe("synthetic/lookupvit_distill").model
                assert (recipe.model.pool, recipe.model.encoder_kwargs) == (layout.pool, layout.encoder_kwargs)
    for seed, (t, s) in enumerate(((80.0, 60.0), (70.0, 70.0))):
        for row, v in (("teacher", t), ("soft", s)):
            run = tmp_path / f"{row}_s{seed}"
            run.mkdir()
            (run / "eval.json").write_text(json.dumps({"results": [{"grid": None, "combined": {"top1": v}}]}))
        (tmp_path / f"soft_s{seed}" / "log.txt").write_text(f"step 20/100  loss 1\neval: top-1 {s - 5}\n"
                                                             f"step 40/100  loss 1\neval: top-1 {s}\n")
    table = distill_table.render(tmp_path, [0, 1], ["teacher", "soft"], 5)
    assert "| 75.0 ± 7.1 | s0 80.0, s1 70.0 |" in table and "| 65.0 ± 7.1 |" in table
    assert "seed 0: not within 100" in table and "seed 1: 40 steps" in table


def test_a_distilled_run_evaluates_without_its_teacher(tmp_path, teacher_run):
    import shutil

    from mmlookup.engine.fit import run_eval

    teacher = tmp_path / "teacher_copy"
    shutil.copytree(teacher_run, teacher)
    recipe = _student(tmp_path, teacher, "model.init_from=teacher", "train.max_steps=1", "train.epochs=1")
    result = fit(recipe, accelerator=build_accelerator(recipe), datasets=_data())
    shutil.rmtree(teacher)
    report = run_eval(recipe, str(result.checkpoint), accelerator=build_accelerator(recipe), dataset=_data()[1])
    assert report.results == result.report.results
    # predict and export rebuild the run's model from its recipe.yaml too: the teacher is not needed there either
    from mmlookup.engine.export import export_run
    from mmlookup.inference.source import load_for_inference

    loaded = load_for_inference(result.run_dir)
    assert type(loaded.model.encoder).__name__ == "LookupViT"
    assert (export_run(result.run_dir, tmp_path / "exported") / "model.safetensors").is_file()
