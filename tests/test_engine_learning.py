"""The learning test: the synthetic LookupViT recipe, shrunk, learns motion from real decoded videos.

Real files are written by the synthetic generator and read once through the real K400 reader, decord and the
test transform; training then runs the real ``fit`` on those clips (decoded once to keep the test short).
The four classes differ only in the direction of motion (left to right, right to left, up, down), so a
model that ignores time stays at chance. The full demo (``mmlookup demo``) is not a test.
"""
from __future__ import annotations

import pytest
import torch
from torch.utils.data import Dataset

from mmlookup.config import load_recipe
from mmlookup.data import ClipSample, build_video_dataset
from mmlookup.data.synthetic import SynthSizes, generate
from mmlookup.engine.fit import build_accelerator, fit

NUM_CLASSES = 4
SIZES = SynthSizes(num_classes=NUM_CLASSES, train_per_class=40, val_per_class=12, frames=32, size=32,
                   ssv2_train_per_class=1, ssv2_val_per_class=1, caption_videos_train=1, caption_videos_val=1,
                   images_train=1, images_val=1)


class Decoded(Dataset):
    """Every clip of a dataset decoded once (the deterministic test transform), kept in memory."""

    def __init__(self, dataset: Dataset) -> None:
        self.samples: list[ClipSample] = [dataset[i] for i in range(len(dataset))]
        self.num_classes = dataset.num_classes

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> ClipSample:
        return self.samples[i]


def _decoded(recipe, annotations: str) -> Decoded:
    d, m = recipe.data, recipe.model
    return Decoded(build_video_dataset(d.format, annotations, d.root, train=False, num_frames=m.num_frames,
                                       frame_interval=d.frame_interval, crop_size=m.img_size,
                                       short_side=d.short_side, flip=False))


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    generate(str(out), seed=0, sizes=SIZES, progress=False)
    return out


def test_lookupvit_learns_motion_well_above_chance(synthetic_root, tmp_path):
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    recipe = load_recipe("synthetic/lookupvit", [
        f"data.root={synthetic_root / 'k400'}", "data.synthetic=False", f"train.output_dir={tmp_path / 'run'}",
        "model.grids=[(2,2,2),(1,2,2)]", "train.epochs=25", "train.batch_size=8", "train.num_workers=0",
        "eval.num_workers=0", "train.tensorboard=false", "train.log_every=50"])
    train, val = _decoded(recipe, recipe.data.train_annotations), _decoded(recipe, recipe.data.val_annotations)
    assert train.num_classes == NUM_CLASSES and len(train) == NUM_CLASSES * SIZES.train_per_class
    report = fit(recipe, accelerator=build_accelerator(recipe), datasets=(train, val)).report
    assert report.num_videos == NUM_CLASSES * SIZES.val_per_class and report.num_unreadable == 0
    chance = 100.0 / NUM_CLASSES
    best = max(r.combined.top1 for r in report.results)
    assert best >= 1.8 * chance, [(r.grid, r.combined.top1) for r in report.results]
