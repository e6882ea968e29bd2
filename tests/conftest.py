"""Fixtures shared across test modules: data and tiny runs that several modules need, made once per session.

Generating data costs a fresh interpreter once decord is loaded (``mmlookup.data.synthetic._write_all``), and
training a run costs seconds; before these were shared, each module made its own identical copy. Tests treat what
the shared sets and runs as read-only: a test that changes a file works on its own copy (``shutil.copytree``).
``motion16_small``, ``synth_msrvtt`` and ``synth_imagenet`` belong to one module each (their module may change
them); they are session fixtures only so that they too are made before decord is loaded (see ``_MADE_FIRST``).
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import Dataset

# Made before the first test when any collected test needs them: until a test loads decord, generate() renders in
# forked workers of this process; afterwards it must start a fresh interpreter (seconds each: PyAV encoding is unsafe
# beside decord's libraries). Test modules therefore import decord only inside the tests that decode with it, and
# tests that generate data themselves are marked ``before_decord`` and run first.
_MADE_FIRST = ("synth_tiny", "motion16_quick", "motion16_small", "synth_msrvtt", "synth_imagenet")
_made_first_key = pytest.StashKey[list]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "before_decord(decodes=False): the test generates data itself; it runs "
                            "before any other test (which may load decord), those that decode last (tests/conftest.py)")


@pytest.hookimpl(trylast=True)  # after -m / -k have deselected what will not run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    needed = {name for item in items for name in getattr(item, "fixturenames", ())}
    config.stash[_made_first_key] = [name for name in _MADE_FIRST if name in needed]
    marked = [i for i in items if i.get_closest_marker("before_decord")]
    marked.sort(key=lambda i: bool(i.get_closest_marker("before_decord").kwargs.get("decodes")))  # stable
    items[:] = marked + [i for i in items if not i.get_closest_marker("before_decord")]


@pytest.fixture(scope="session", autouse=True)
def _data_made_before_decord(request: pytest.FixtureRequest) -> None:
    for name in request.config.stash.get(_made_first_key, []):
        request.getfixturevalue(name)


@pytest.fixture(scope="session")
def synth_tiny(tmp_path_factory: pytest.TempPathFactory):
    """The whole tiny synthetic set, seed 0 (``SyntheticPaths``: K400, SSv2, COCO, ImageNet and MSR-VTT parts)."""
    from mmlookup.data.synthetic import SynthSizes, generate

    return generate(str(tmp_path_factory.mktemp("synth_tiny")), seed=0, sizes=SynthSizes.tiny(), workers=2,
                    progress=False)


@pytest.fixture(scope="session")
def synth_k400(synth_tiny) -> Path:
    """Its K400 part: 16 train / 8 val real mp4 clips of 8 classes, 8 frames of 32x32."""
    return Path(synth_tiny.k400_root)


@pytest.fixture(scope="session")
def synth_runs(synth_k400: Path, tmp_path_factory: pytest.TempPathFactory):
    """``synth_runs(family)``: a run of the packaged ``synthetic/<family>`` recipe trained for 2 steps on
    :func:`synth_k400`, trained on first use and shared by every module after that."""
    from mmlookup.config import load_recipe
    from mmlookup.engine.fit import fit

    root = tmp_path_factory.mktemp("synth_runs")
    made: dict[str, Path] = {}

    def get(family: str) -> Path:
        if family not in made:
            out = root / family
            sets = [f"data.root={synth_k400}", f"train.output_dir={out}", "data.synthetic=False",
                    "model.num_frames=4", "data.frame_interval=2", "train.batch_size=4", "train.epochs=1",
                    "train.max_steps=2", "train.num_workers=0", "eval.num_workers=0", "train.tensorboard=false"]
            fit(load_recipe(f"synthetic/{family}", sets))
            made[family] = out
        return made[family]

    return get


class RandomClips(Dataset):
    """Random ``(3, 4, 32, 32)`` clips, labels ``i % 3`` (the engine only needs the shapes)."""

    def __init__(self, n: int) -> None:
        self.video = torch.randn(n, 3, 4, 32, 32, generator=torch.Generator().manual_seed(n))
        self.num_classes = 3

    def __len__(self) -> int:
        return len(self.video)

    def __getitem__(self, i: int):
        from mmlookup.data import ClipSample

        return ClipSample(video=self.video[i], label=i % 3, index=i, replaced=0)


@pytest.fixture(scope="session")
def random_clip_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``lookupvit_nano`` (grids 1x2x2 and 2x2x2) and ``vit_nano`` runs of one step on :class:`RandomClips`
    (4 train, 6 val), with their checkpoints, recipe.yaml and eval.json: for sweep, visualize and plot."""
    from mmlookup.config import Recipe, apply_overrides
    from mmlookup.engine.fit import build_accelerator, fit

    root = tmp_path_factory.mktemp("random_clip_runs")

    def train(encoder: str) -> Path:
        grids = ["model.grids=[(1,2,2),(2,2,2)]"] if encoder.startswith("lookupvit") else []
        recipe = apply_overrides(Recipe(name=encoder), [
            f"model.encoder={encoder}", "model.num_frames=4", "model.img_size=32", "model.patch_size=8", *grids,
            "train.epochs=1", "train.max_steps=1", "train.batch_size=4", "train.num_workers=0",
            "train.precision=no", "train.tensorboard=false", f"train.output_dir={root / encoder}",
            "eval.batch_size=6", "eval.num_workers=0"]).validate()
        fit(recipe, accelerator=build_accelerator(recipe), datasets=(RandomClips(4), RandomClips(6)))
        return root / encoder

    return {"lookupvit": train("lookupvit_nano"), "vit": train("vit_nano")}


@pytest.fixture(scope="session")
def motion16_quick(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data of ``mmlookup bench --accuracy --quick`` (data seed 0), generated by the bench's own
    ``ensure_data`` (what the bench does when its ``--data`` folder is absent); the quick benchmark and search tests
    point ``--data`` here, so it is generated once, not once per test."""
    from argparse import Namespace

    from mmlookup.bench.accuracy import ensure_data
    from mmlookup.data.motion16 import Motion16Sizes, motion16_complete

    data = tmp_path_factory.mktemp("motion16_quick") / "data"
    assert not data.exists()
    ensure_data(data, Namespace(quick=True, data_seed=0))
    assert motion16_complete(data, 0, Motion16Sizes.quick())
    return data


@pytest.fixture(scope="session")
def motion16_small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """test_motion16's set: seed 5, 2 train / 1 val clips and stills per class."""
    from mmlookup.data.motion16 import Motion16Sizes, generate_motion16

    sizes = Motion16Sizes(train_per_class=2, val_per_class=1, image_train_per_class=2, image_val_per_class=1)
    return generate_motion16(str(tmp_path_factory.mktemp("m16") / "a"), seed=5, sizes=sizes, workers=2,
                             progress=False)


@pytest.fixture(scope="session")
def synth_msrvtt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """test_caption_msrvtt's set (seed 1): only the caption clips (10 train, 3 val) and their MSR-VTT copy."""
    from mmlookup.data.synthetic import SynthSizes, generate

    root = tmp_path_factory.mktemp("synth_msrvtt")
    sizes = SynthSizes(train_per_class=0, val_per_class=0, ssv2_train_per_class=0, ssv2_val_per_class=0, frames=8,
                       size=32, caption_videos_train=10, caption_videos_val=3, images_train=0, images_val=0)
    generate(str(root), seed=1, sizes=sizes, workers=1, progress=False)
    return root


@pytest.fixture(scope="session")
def synth_imagenet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """test_imagenet_robustness's stills: ``generate_imagenet`` at the tiny sizes (seed 0); returns the folder that
    holds ``imagenet/``."""
    from mmlookup.data.synthetic import SynthSizes, generate_imagenet

    base = tmp_path_factory.mktemp("imagenet")
    generate_imagenet(str(base), sizes=SynthSizes.tiny(), workers=1, progress=False)
    return base
