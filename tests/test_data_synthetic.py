"""The synthetic dataset: determinism, decodable files, real readers, captions, and motion-only classes."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmlookup.data import build_video_dataset, read_annotations
from mmlookup.data.render import draw_spec, render
from mmlookup.data.synthetic import (
    COLOURS,
    K400_LABELS,
    MOTIONS,
    SHAPES,
    SynthSizes,
    ensure_synthetic,
    generate,
    is_complete,
)

TINY = SynthSizes.tiny()


@pytest.fixture(scope="module")
def tiny(synth_tiny):
    return synth_tiny                               # seed 0, shared by the session (tests/conftest.py); read only


def _annotation_files(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs
                  if f.endswith((".csv", ".json", ".txt")))


def _decoded(path):
    if path.endswith(".jpg"):
        return np.asarray(Image.open(path))
    import decord  # here, not at import: once decord is loaded, every generate() starts a fresh interpreter

    vr = decord.VideoReader(path, num_threads=1)
    return vr.get_batch(list(range(len(vr)))).asnumpy()


@pytest.mark.before_decord(decodes=True)                # generates twice, then loads decord to compare frames
def test_same_seed_same_files_and_frames(tiny, tmp_path):
    again = generate(str(tmp_path / "b"), seed=0, sizes=TINY, workers=1, progress=False)
    other = generate(str(tmp_path / "c"), seed=4, sizes=TINY, workers=1, progress=False)
    files = _annotation_files(tiny.root)
    assert files == _annotation_files(again.root) and len(files) == 16  # 11 + ImageNet x2, marker, MSR-VTT x2
    for rel in files:
        with open(os.path.join(tiny.root, rel), "rb") as a, open(os.path.join(again.root, rel), "rb") as b:
            assert a.read() == b.read(), rel
    media = sorted(os.path.relpath(os.path.join(d, f), tiny.root) for d, _, fs in os.walk(tiny.root) for f in fs
                   if f.endswith((".mp4", ".webm", ".jpg")))
    assert len(media) == 8 * 3 * 2 + 6 + 10 + 6  # + the MSR-VTT copies of the caption clips
    for rel in media:
        assert np.array_equal(_decoded(os.path.join(tiny.root, rel)), _decoded(os.path.join(again.root, rel))), rel
    with open(tiny.k400_train, "rb") as a, open(other.k400_train, "rb") as b:
        assert a.read() != b.read()


def test_k400_layout_and_reader(tiny):
    with open(tiny.k400_train, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["label", "youtube_id", "time_start", "time_end", "split", "is_cc"]
    assert all(len(r["youtube_id"]) == 11 for r in rows)
    r = rows[0]
    expected = os.path.join(tiny.k400_root, "videos", r["label"].replace(" ", "_"),
                            f"{r['youtube_id']}_{int(r['time_start']):06d}_{int(r['time_end']):06d}.mp4")
    assert os.path.isfile(expected)
    ds = build_video_dataset("k400", tiny.k400_train, tiny.k400_root, train=True, num_frames=4, frame_interval=2,
                             crop_size=32, labels_file=tiny.k400_classes)
    assert len(ds) == 16 and ds.classes == sorted(K400_LABELS.values()) == tiny.classes
    assert sorted({rec.label for rec in ds.records}) == list(range(8))
    assert all(os.path.isfile(rec.path) for rec in ds.records)
    sample = ds[0]
    assert sample.video.shape == (3, 4, 32, 32) and sample.replaced == 0
    val = read_annotations("auto", tiny.k400_val, tiny.k400_root)
    assert len(val.records) == 8


def test_ssv2_layout_and_reader(tiny):
    ds = build_video_dataset("ssv2", tiny.ssv2_val, tiny.ssv2_root, train=False, sampling="segment", num_frames=4,
                             num_clips=2, num_crops=3, crop_size=32, short_side=32)
    assert len(ds) == 8 and ds.num_classes == 8
    assert ds.classes[0] == "Moving something from left to right"
    assert all(rec.path.endswith(".webm") and os.path.isfile(rec.path) for rec in ds.records)
    assert ds[0].video.shape == (6, 3, 4, 32, 32)
    with open(tiny.ssv2_train) as f:
        entry = json.load(f)[0]
    assert set(entry) == {"id", "label", "template", "placeholders"}
    assert entry["placeholders"][0] in entry["label"] and "[something]" in entry["template"]


def test_coco_files(tiny):
    for path, suffix, count in ((tiny.coco_captions_train, ".jpg", TINY.images_train),
                                (tiny.coco_video_captions_val, ".mp4", TINY.caption_videos_val)):
        with open(path) as f:
            data = json.load(f)
        assert len(data["images"]) == count
        ids = {im["id"] for im in data["images"]}
        for im in data["images"]:
            assert im["file_name"].endswith(suffix) and os.path.isfile(os.path.join(tiny.coco_root, im["file_name"]))
        captions = {}
        for ann in data["annotations"]:
            assert ann["image_id"] in ids
            captions.setdefault(ann["image_id"], []).append(ann["caption"])
        assert all(len(c) == 5 and len(set(c)) == 5 for c in captions.values())
        for caps in captions.values():
            assert all(any(col in c for col in COLOURS) and any(s in c for s in SHAPES) for c in caps)
    with open(tiny.coco_karpathy) as f:
        images = json.load(f)["images"]
    assert {im["split"] for im in images} == {"train", "val", "test"}
    im = images[0]
    assert os.path.isfile(os.path.join(tiny.coco_root, im["filepath"], im["filename"]))
    assert im["sentences"][0]["raw"] and im["sentences"][0]["tokens"]


def test_msrvtt_copy_of_the_caption_clips(tiny):
    from mmlookup.data.coco import read_coco_captions
    from mmlookup.data.video_captions import read_msrvtt

    train = read_msrvtt(tiny.msrvtt_train_val, ["train", "validate"])
    test = read_msrvtt(tiny.msrvtt_test, ["test"])
    coco_train, coco_val = read_coco_captions(tiny.coco_video_captions_train), read_coco_captions(
        tiny.coco_video_captions_val)
    assert [s.captions for s in train] == [s.captions for s in coco_train]
    assert [s.captions for s in test] == [s.captions for s in coco_val]
    assert [s.image_id for s in train + test] == list(range(TINY.caption_videos_train + TINY.caption_videos_val))
    for ours, theirs in zip(train + test, coco_train + coco_val):
        assert ours.path.name == f"video{ours.image_id}.mp4"
        assert ours.path.read_bytes() == theirs.path.read_bytes()


def _centroid_area(frames, background):
    mask = np.abs(frames.astype(np.float32) - background.astype(np.float32)).sum(-1) > 60
    ys, xs = np.nonzero(mask[0]), None
    out = []
    for m in mask:
        ys, xs = np.nonzero(m)
        out.append((xs.mean(), ys.mean(), m.sum()))
    return np.array(out)


@pytest.mark.parametrize("motion", MOTIONS[:6])
def test_translation_and_scale_classes_move_as_named(motion):
    spec = draw_spec(np.random.default_rng(0), motion, "x.mp4", frames=6, height=64, width=64, fps=8)
    frames = render(spec)
    still = render(replace(spec, cx=(spec.cx[0],) * 2, cy=(spec.cy[0],) * 2, radius=(0.0, 0.0)))
    stats = _centroid_area(frames, still[0])
    dx, dy, darea = np.diff(stats, axis=0).T
    expect = {"left_to_right": dx > 1, "right_to_left": dx < -1, "up": dy < -1, "down": dy > 1,
              "growing": darea > 0, "shrinking": darea < 0}[motion]
    assert expect.all()


@pytest.mark.parametrize("motion,sign", [("rotating_cw", 1), ("rotating_ccw", -1)])
def test_rotation_direction_on_screen(motion, sign):
    spec = draw_spec(np.random.default_rng(1), motion, "x.mp4", frames=2, height=96, width=96, fps=8)
    spec = replace(spec, shape="triangle", cx=(0.5, 0.5), cy=(0.5, 0.5), radius=(0.3, 0.3),
                   angle=(spec.angle[0], spec.angle[0] + sign * 0.3))
    frames = render(spec).astype(np.float32)
    colour = np.asarray(COLOURS[spec.colour], dtype=np.float32)
    mask = np.abs(frames - colour).sum(-1) < 30
    theta = np.linspace(0, 2 * np.pi, 360, endpoint=False)
    ring = 0.3 * 96 * 0.8
    xs = np.clip((48 + ring * np.cos(theta)).astype(int), 0, 95)
    ys = np.clip((48 + ring * np.sin(theta)).astype(int), 0, 95)  # y down: increasing theta = clockwise on screen
    p0, p1 = mask[0, ys, xs].astype(float), mask[1, ys, xs].astype(float)
    shifts = range(-40, 41)
    best = max(shifts, key=lambda s: float((np.roll(p0, s) * p1).sum()))
    assert np.sign(best) == sign and abs(best - sign * 17) <= 4  # 0.3 rad = 17 degrees


def test_same_appearance_statistics_across_classes():
    rng = np.random.default_rng(0)
    counts = {m: np.zeros(len(SHAPES)) for m in ("left_to_right", "right_to_left")}
    for m in counts:
        for _ in range(400):
            counts[m][SHAPES.index(draw_spec(rng, m, "x", frames=2, height=32, width=32, fps=8).shape)] += 1
    assert np.abs(counts["left_to_right"] - counts["right_to_left"]).max() < 60


def test_bad_sizes_rejected(tmp_path):
    with pytest.raises(ValueError, match="even"):
        generate(str(tmp_path), sizes=replace(TINY, size=33), progress=False)
    with pytest.raises(ValueError, match="num_classes"):
        generate(str(tmp_path), sizes=replace(TINY, num_classes=9), progress=False)


@pytest.mark.before_decord                               # ensure_synthetic() generates the set again
def test_interrupted_generation_is_redone_not_used(tmp_path):
    # a real generation killed (-9) half-way leaves no annotation file and no marker in the output folder, so the
    # next ensure_synthetic() writes the whole set instead of training on a set with videos missing
    out = tmp_path / "synthetic"
    code = ("import sys; from mmlookup.data.synthetic import SynthSizes, generate; "
            "generate(sys.argv[1], sizes=SynthSizes.tiny(), workers=1, progress=False)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(out)], env={**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])})
    partial = tmp_path / ".synthetic.partial"
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if len(list(partial.rglob("*.mp4"))) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "generation ended before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not is_complete(out) and not (out / "k400" / "train.csv").exists()
    ensure_synthetic(out, sizes=TINY)
    assert is_complete(out) and not partial.exists()
    assert len(_annotation_files(out)) == 16  # as in test_same_seed_same_files_and_frames
    media = sum(len(list(out.rglob(f"*.{ext}"))) for ext in ("mp4", "webm", "jpg"))
    assert media == 8 * 3 * 2 + 6 + 10 + 6  # the last 6: MSR-VTT copies of the caption clips


def test_a_moved_root_trains_on_its_copy_and_writes_nothing_beside_it(tiny, tmp_path, monkeypatch):
    # `cp -a data/synthetic/k400 ../elsewhere/moved_k400; mmlookup train synthetic/lookupvit --set data.root=...`
    # once wrote a whole synthetic set (k400/, ssv2/, coco/, ...) into ../elsewhere/ before training on the copy
    import shutil

    from mmlookup.config import load_recipe
    from mmlookup.engine.setup import build_dataset

    monkeypatch.chdir(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(Path(tiny.root) / "k400", elsewhere / "moved_k400")
    (elsewhere / "sibling").mkdir()
    (elsewhere / "sibling" / "notes.txt").write_text("mine")
    before = sorted(str(p.relative_to(elsewhere)) for p in elsewhere.rglob("*"))
    recipe = load_recipe("synthetic/lookupvit:quick", ["data.root=elsewhere/moved_k400"])
    assert not recipe.data.synthetic
    assert len(build_dataset(recipe, train=True)) > 0
    assert sorted(str(p.relative_to(elsewhere)) for p in elsewhere.rglob("*")) == before
    assert (elsewhere / "sibling" / "notes.txt").read_text() == "mine"
    assert not Path("data").exists()                      # nor into the recipe's default folder


@pytest.mark.parametrize("sets, where", [
    ([], "data/synthetic"),                                                 # the recipe's own place
    (["data.root=moved/k400"], None),                                       # moved: the user's data
    (["data.root=moved/k400", "data.synthetic=True"], "moved"),             # moved, and asked for there
    (["data.synthetic=True", "data.root=moved/k400"], "moved"),
    (["train.epochs=1"], "data/synthetic"),                                 # other keys move nothing
])
def test_the_synthetic_set_is_written_only_where_the_recipe_or_the_user_puts_it(tmp_path, monkeypatch, sets, where):
    import mmlookup.data.synthetic as synthetic
    from mmlookup.config import load_recipe
    from mmlookup.engine.setup import build_dataset

    monkeypatch.chdir(tmp_path)
    written: list[str] = []
    monkeypatch.setattr(synthetic, "ensure_synthetic", lambda out, **kw: written.append(str(out)))
    try:
        build_dataset(load_recipe("synthetic/lookupvit", sets), train=True)
    except (FileNotFoundError, OSError, ValueError):
        pass                                                # nothing there to read: only where it wrote matters
    assert written == ([where] if where else [])


def test_caption_recipes_keep_a_moved_annotation_file_in_place(tmp_path):
    from mmlookup.config import load_recipe

    assert load_recipe("coco/caption_synthetic").data.synthetic
    moved = load_recipe("coco/caption_synthetic", [f"caption.train_annotations={tmp_path}/c.json"])
    assert not moved.data.synthetic
