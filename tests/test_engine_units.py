"""Unit tests of the engine's pure parts: schedules, parameter groups, metrics, heads, loss, config overrides."""
from __future__ import annotations

import gc
import math

import pytest
import torch
import torch.nn as nn

from mmlookup.config import Recipe, apply_overrides, load_recipe, save_recipe, valid_keys
from mmlookup.encoders.base import EncoderOutput
from mmlookup.engine.loop import head_loss
from mmlookup.engine.optim import param_groups, set_lr
from mmlookup.engine.schedule import keep_rate_at, loop_lengths, lr_factor, sample_grid, step_seed
from mmlookup.heads import LookupHeads, PooledHead, combine_probs
from mmlookup.metrics.topk import mean_class_accuracy, topk_accuracy


# ------------------------------------------------------------------------------------------------ schedule
@pytest.mark.parametrize("world,accum", [(1, 1), (2, 1), (1, 4), (4, 2)])
def test_loop_lengths_scale_with_world_size_and_accumulation(world, accum):
    n, batch, epochs = 1000, 8, 3
    ll = loop_lengths(n, batch, world, accum, epochs, warmup_epochs=1.0)
    per_process_batches = math.ceil(n / world) // batch
    assert ll.steps_per_epoch == per_process_batches // accum
    assert ll.total_steps == ll.steps_per_epoch * epochs
    assert ll.warmup_steps == ll.steps_per_epoch
    assert ll.global_batch == batch * world * accum
    # one epoch of optimizer steps covers (about) the dataset once, whatever the layout
    assert abs(ll.steps_per_epoch * ll.global_batch - n) < ll.global_batch * (accum + 1)


def test_loop_lengths_too_small_dataset_is_a_clear_error():
    with pytest.raises(ValueError, match="too few"):
        loop_lengths(10, 8, 2, 1, 1, 0.0)


def test_lr_factor_warmup_then_cosine():
    total, warm = 100, 10
    f = [lr_factor(s, total, warm, min_ratio=0.01) for s in range(total)]
    assert f[0] == pytest.approx(0.1) and f[warm - 1] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(f[:warm - 1], f[1:warm]))  # rising warm-up
    assert all(a >= b for a, b in zip(f[warm:-1], f[warm + 1:]))  # non-increasing cosine
    assert f[warm] == pytest.approx(1.0)
    mid = warm + (total - warm) // 2
    assert f[mid] == pytest.approx(0.01 + 0.99 * 0.5, abs=1e-6)
    assert lr_factor(total, total, warm, 0.01) == pytest.approx(0.01)


def test_keep_rate_schedule_holds_then_decays_to_target():
    target, hold, ramp = 0.6, 5, 10
    assert [keep_rate_at(s, target, hold, ramp) for s in range(hold)] == [1.0] * hold
    vals = [keep_rate_at(s, target, hold, ramp) for s in range(hold, hold + ramp + 5)]
    assert all(a >= b for a, b in zip(vals, vals[1:]))
    assert vals[0] == pytest.approx(1.0) and vals[-1] == pytest.approx(target)
    assert keep_rate_at(0, target, 0, 0) == target


def test_sample_grid_is_deterministic_and_uses_every_grid():
    grids = ((1, 2, 2), (2, 4, 4), (2, 3, 3))
    seq = [sample_grid(grids, s, seed=3) for s in range(200)]
    assert seq == [sample_grid(grids, s, seed=3) for s in range(200)]  # same on every process / after resume
    assert set(seq) == set(grids)
    assert seq != [sample_grid(grids, s, seed=4) for s in range(200)]
    assert sample_grid((), 5, 0) is None


def test_step_seed_differs_by_rank_and_step():
    seeds = {step_seed(0, s, r, m) for s in range(20) for r in range(4) for m in range(3)}
    assert len(seeds) == 20 * 4 * 3


# ------------------------------------------------------------------------------------------ param groups
class _TinyEncoder(nn.Module):
    depth = 2

    def __init__(self):
        super().__init__()
        self.patch_embed = nn.Linear(4, 8)
        self.pos_embed = nn.Parameter(torch.zeros(1, 3, 8))
        self.blocks = nn.ModuleList([nn.Sequential(nn.LayerNorm(8), nn.Linear(8, 8)) for _ in range(2)])
        self.norm = nn.LayerNorm(8)

    def no_weight_decay(self):
        return {"pos_embed"}

    def layer_id(self, name):
        if name.startswith("blocks."):
            return int(name.split(".")[1]) + 1
        return 0 if name.startswith(("patch_embed", "pos_embed")) else self.depth + 1


def _tiny_classifier():
    from mmlookup.models import VideoClassifier

    return VideoClassifier(_TinyEncoder(), PooledHead(8, 3))


def test_param_groups_no_decay_on_norms_biases_pos_embed():
    model = _tiny_classifier()
    groups = param_groups(model, weight_decay=0.05)
    by_id = {id(p): g for g in groups for p in g["params"]}
    named = dict(model.named_parameters())
    assert by_id[id(named["encoder.pos_embed"])]["weight_decay"] == 0
    assert by_id[id(named["encoder.norm.weight"])]["weight_decay"] == 0
    assert by_id[id(named["encoder.patch_embed.bias"])]["weight_decay"] == 0
    assert by_id[id(named["encoder.patch_embed.weight"])]["weight_decay"] == 0.05
    assert by_id[id(named["head.fc.weight"])]["weight_decay"] == 0.05
    assert sum(len(g["params"]) for g in groups) == len(named)


def test_layer_decay_scales_lr_by_depth():
    model = _tiny_classifier()
    groups = param_groups(model, weight_decay=0.05, layer_decay=0.5)
    by_id = {id(p): g for g in groups for p in g["params"]}
    named = dict(model.named_parameters())
    scale = {n: by_id[id(p)]["lr_scale"] for n, p in named.items()}
    # 4 levels (embedding, 2 blocks, norm/head): embedding gets 0.5^3, block0 0.5^2, block1 0.5, head 1
    assert scale["encoder.patch_embed.weight"] == pytest.approx(0.125)
    assert scale["encoder.blocks.0.1.weight"] == pytest.approx(0.25)
    assert scale["encoder.blocks.1.1.weight"] == pytest.approx(0.5)
    assert scale["head.fc.weight"] == pytest.approx(1.0)
    opt = torch.optim.AdamW(groups, lr=1.0)
    set_lr(opt, 2e-3)
    assert sorted({round(g["lr"], 8) for g in opt.param_groups}) == [2.5e-4, 5e-4, 1e-3, 2e-3]


# --------------------------------------------------------------------------------------------- metrics
def test_topk_and_mean_class_accuracy():
    scores = torch.tensor([[0.9, 0.05, 0.05], [0.1, 0.2, 0.7], [0.5, 0.3, 0.2], [0.2, 0.5, 0.3]])
    labels = torch.tensor([0, 1, 1, 1])
    acc = topk_accuracy(scores, labels, (1, 2))
    assert acc[1] == pytest.approx(50.0) and acc[2] == pytest.approx(100.0)
    # class 0: 1/1 correct, class 1: 1/3 correct -> mean 66.7 (not the 50 of plain top-1)
    assert mean_class_accuracy(scores, labels, 3) == pytest.approx(100 * (1 + 1 / 3) / 2)


# ------------------------------------------------------------------------------------------- heads/loss
def test_lookup_heads_shapes_and_combination():
    heads = LookupHeads(8, 5)
    out = EncoderOutput(tokens=torch.randn(2, 12, 8), compressed=torch.randn(2, 4, 8))
    logits = heads(out)
    assert logits.shape == (2, 2, 5)
    probs = combine_probs(logits)
    expected = (logits[:, 0].softmax(-1) + logits[:, 1].softmax(-1)) / 2
    torch.testing.assert_close(probs, expected)
    with pytest.raises(ValueError, match="compressed"):
        heads(EncoderOutput(tokens=torch.randn(2, 12, 8)))


def test_head_loss_sums_heads_and_accepts_soft_targets():
    logits = torch.randn(3, 2, 4)
    y = torch.tensor([0, 3, 1])
    loss = head_loss(logits, y, 0.1)
    ref = sum(nn.functional.cross_entropy(logits[:, h], y, label_smoothing=0.1) for h in range(2))
    torch.testing.assert_close(loss, ref)
    soft = nn.functional.one_hot(y, 4).float()
    torch.testing.assert_close(head_loss(logits, soft), head_loss(logits, y))


# -------------------------------------------------------------------------------------------- overrides
def test_overrides_are_type_checked():
    r = apply_overrides(Recipe(), ["optim.lr=3e-4", "train.epochs=7", "model.grids=[(1,2,2),(2,4,4)]",
                                   "data.flip=false", "model.encoder_kwargs.qkv_bias=True"])
    assert r.optim.lr == 3e-4 and r.train.epochs == 7 and r.data.flip is False
    assert r.model.grids == ((1, 2, 2), (2, 4, 4)) and r.model.encoder_kwargs == {"qkv_bias": True}
    with pytest.raises(TypeError, match="train.epochs: expected int"):
        apply_overrides(Recipe(), ["train.epochs=2.5"])
    with pytest.raises(TypeError, match="optim.lr: expected float"):
        apply_overrides(Recipe(), ["optim.lr=fast"])
    with pytest.raises(TypeError, match="data.flip"):
        apply_overrides(Recipe(), ["data.flip=maybe"])
    with pytest.raises(TypeError, match="model.grids"):
        apply_overrides(Recipe(), ["model.grids=[(1,2)]"])
    with pytest.raises(ValueError, match="key=value"):
        apply_overrides(Recipe(), ["optim.lr"])


def test_unknown_key_error_lists_valid_keys():
    with pytest.raises(KeyError) as e:
        apply_overrides(Recipe(), ["optim.learning_rate=1"])
    msg = str(e.value)
    assert "optim.learning_rate" in msg and "optim.lr" in msg and "optim.weight_decay" in msg
    with pytest.raises(KeyError, match="valid keys: name, task"):
        apply_overrides(Recipe(), ["optimizer.lr=1"])


def test_invalid_choice_fails_at_validation():
    with pytest.raises(ValueError, match="choose one of no, bf16, fp16"):
        apply_overrides(Recipe(), ["train.precision=fp8"]).validate()


def test_resolved_recipe_round_trips(tmp_path):
    r = apply_overrides(Recipe(), ["optim.lr=1e-3", "model.grids=[(2,4,4)]", "caption.num_beams=2"])
    path = save_recipe(r, tmp_path / "recipe.yaml")
    assert load_recipe(path) == r
    assert "caption.num_beams" in valid_keys() and "optim.lr" in valid_keys()


# ---------------------------------------------------------------------------------------------- seeding
class _RandomItems(torch.utils.data.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return torch.rand(())


def test_seeded_dataset_is_a_function_of_epoch_and_index_even_in_persistent_workers():
    from torch.utils.data import DataLoader

    from mmlookup.engine.seeding import SeededDataset

    ds = SeededDataset(_RandomItems(), seed=0)
    loader = DataLoader(ds, batch_size=4, num_workers=2, persistent_workers=True)
    batches = []
    for epoch in range(2):
        ds.set_epoch(epoch)
        batches.append(next(iter(loader)))
    del loader  # shut the persistent workers down (a later fork must not inherit them)
    gc.collect()
    ds.set_epoch(1)
    in_process = torch.stack([ds[i] for i in range(4)])
    assert torch.equal(batches[1], in_process)  # workers saw epoch 1; same values as in the main process
    assert not torch.equal(batches[0], batches[1])  # a new epoch draws new augmentations
    state = torch.get_rng_state()
    ds[0]
    assert torch.equal(state, torch.get_rng_state())  # the caller's RNG is untouched


def test_release_workers_ends_persistent_workers_before_exit():
    # left to multiprocessing's exit handler, persistent workers die by SIGTERM and torch reports a failed worker
    from torch.utils.data import DataLoader

    from mmlookup.engine.fit import release_workers

    loader = DataLoader(list(range(8)), batch_size=4, num_workers=1, persistent_workers=True)
    assert [b.tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    workers = loader._iterator._workers
    assert all(w.is_alive() for w in workers)
    release_workers(loader)
    assert loader._iterator is None and not any(w.is_alive() for w in workers)
    release_workers(loader)  # idempotent
