"""Long videos: window planning, streaming decode, segment merging, unreadable stretches, the cascade's escalation and
calibration, the long synthetic videos and their metrics, ``mmlookup predict --timeline``.

Models are random-weight folders saved here; videos are written here (a minute of 32x32 video takes ~0.2 s).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mmlookup import Predictor
from mmlookup.cli import main
from mmlookup.data.longvideo import LongVideoCfg, class_names, ground_truth, write_long_video
from mmlookup.inference import timeline as tl
from mmlookup.inference.cascade import Cascade, calibrate, cascade_cost, confidence, escalate, parse_cascade
from mmlookup.inference.longbench import read_truth, score_timeline, segment_f1
from mmlookup.inference.source import Preprocess
from mmlookup.models import create_classifier

PRE = Preprocess(num_frames=8, img_size=32, frame_interval=4)


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    write_long_video(path, LongVideoCfg(seconds=20, seed=3, size=32))
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("model") / "lookupvit"
    model = create_classifier("lookupvit_nano", num_classes=8, num_frames=8, img_size=32, patch_size=8, grid=(2, 2, 2))
    model.class_names = class_names("demo")
    model.save_pretrained(out)
    return out


class CountingSource:
    """Wraps a real source and records every request; fails the frames in ``bad``."""

    def __init__(self, path: Path, bad: range = range(0)) -> None:
        self.inner = tl.DecordSource(str(path), 32)
        self.num_frames, self.fps = self.inner.num_frames, self.inner.fps
        self.requests: list[list[int]] = []
        self.bad = bad

    def get(self, indices: list[int]) -> np.ndarray:
        self.requests.append(list(indices))
        if any(i in self.bad for i in indices):
            raise RuntimeError("Error sending packet")
        return self.inner.get(indices)


def uniform(views: torch.Tensor) -> torch.Tensor:
    return torch.full((len(views), 8), 1 / 8)


def test_spans_and_windows_cover_the_video_and_sample_like_test_clips():
    assert tl.parse_span(None, 12, 29) == 29 and tl.parse_span("29f", 12, 1) == 29
    assert tl.parse_span("2.5s", 12, 1) == 30 == tl.parse_span(2.5, 12, 1)
    for bad in ("0", "-1s", "xf", "nan"):
        with pytest.raises(ValueError, match="--window must be"):
            tl.parse_span(bad, 12, 1)
    plan = tl.plan_windows(100, PRE, 29, 14)
    assert [w.start for w in plan] == [0, 14, 28, 42, 56, 70, 71]           # the last window ends on the last frame
    assert plan[1].indices.tolist() == [[14 + 4 * k for k in range(8)]]     # dense, centred: span 29 fills it
    seg = tl.plan_windows(100, Preprocess(num_frames=8, img_size=32, sampling="segment"), 40, 20)
    assert seg[1].indices.tolist() == [[20 + int(2.5 + 5 * k) for k in range(8)]]   # TSN centres inside the window
    short = tl.plan_windows(10, PRE, 29, 14)
    assert len(short) == 1 and short[0].length == 10 and short[0].indices.max() < 10   # loops as the recipe does


def test_streaming_decodes_window_batches_never_the_whole_video(video):
    source = CountingSource(video)
    result = tl.run_timeline(str(video), PRE, class_names("demo"), uniform, batch_windows=4, progress=False,
                          source=source)
    assert len(result.starts) > 8 and result.num_frames == 240
    biggest = max(len(r) for r in source.requests)
    assert biggest <= 4 * 8 < result.num_frames / 4                        # one batch's frames at a time
    seen = sorted({i for r in source.requests for i in r})
    assert len(seen) < result.num_frames                                    # only the sampled frames are decoded
    assert result.segments and result.unreadable == [] and result.notes == []


def test_prefetch_runs_ahead_in_another_thread_by_at_most_depth():
    import threading
    import time

    produced, threads = [], set()

    def items():
        for i in range(8):
            threads.add(threading.current_thread().name)
            produced.append(i)
            yield i

    ahead = []
    for i in tl.prefetch(items(), depth=2):
        time.sleep(0.02)                                                     # the consumer is the slow side
        ahead.append(len(produced) - (i + 1))
    assert threads == {"timeline-decode"} and max(ahead) <= 3 and max(ahead) >= 1

    def broken():
        yield 1
        raise RuntimeError("decoder died")

    with pytest.raises(RuntimeError, match="decoder died"):
        list(tl.prefetch(broken()))


def test_segments_merge_windows_with_the_same_label_and_tile_the_video():
    eye = torch.eye(3) * 0.7 + 0.1
    probs = torch.stack([eye[0], eye[0], eye[1], eye[1], eye[1], eye[0]])
    starts = [0, 10, 20, 30, 40, 50]
    bounds = tl.owner_bounds(starts, 20, 70)
    assert bounds[0][0] == 0 and bounds[-1][1] == 70 and all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    segs = tl.merge_segments(probs, bounds, ["a", "b", "c"], fps=10)
    assert [(s.label, s.start_s, s.end_s) for s in segs] == [("a", 0, 2.5), ("b", 2.5, 5.5), ("a", 5.5, 7.0)]
    assert segs[0].score == pytest.approx(0.8)
    # smoothing over 3 windows removes a one-window flicker; a NaN row (unreadable) ends a segment and stays NaN
    flicker = torch.stack([eye[0], eye[0], eye[1] * 0.6 + eye[0] * 0.4, eye[0], eye[0]])
    assert len(tl.merge_segments(flicker, tl.owner_bounds(starts[:5], 20, 60), list("abc"), 10)) == 3
    smooth = tl.smooth_probs(flicker, 3)
    assert len(tl.merge_segments(smooth, tl.owner_bounds(starts[:5], 20, 60), list("abc"), 10)) == 1
    holed = flicker.clone()
    holed[2] = float("nan")
    assert torch.isnan(tl.smooth_probs(holed, 3)[2]).all()
    assert len(tl.merge_segments(tl.smooth_probs(holed, 3), tl.owner_bounds(starts[:5], 20, 60), list("abc"), 10)) == 2
    with pytest.raises(ValueError, match="odd"):
        tl.smooth_probs(flicker, 2)


def test_unreadable_stretch_is_reported_with_its_time_range_and_the_rest_goes_on(video):
    source = CountingSource(video, bad=range(100, 130))
    result = tl.run_timeline(str(video), PRE, class_names("demo"), uniform, batch_windows=4, progress=False,
                          source=source)
    assert len(result.unreadable) == 1
    stretch = result.unreadable[0]
    assert 5.0 < stretch.start_s < 100 / 12 and 130 / 12 - 1 < stretch.end_s < 12.5
    assert "Error sending packet" in stretch.reason
    covered = sum(s.end_s - s.start_s for s in result.segments) + stretch.end_s - stretch.start_s
    assert covered == pytest.approx(result.duration_s, abs=1e-3)             # the rest is still labelled
    assert all(s.end_s <= stretch.start_s or s.start_s >= stretch.end_s for s in result.segments)


def test_a_damaged_real_file_reports_stretches_and_labels_the_rest(video, tmp_path):
    damaged = tmp_path / "damaged.mp4"
    data = bytearray(video.read_bytes())
    data[len(data) // 2:len(data) // 2 + len(data) // 10] = bytes(len(data) // 10)   # zeros over 10% mid-file
    damaged.write_bytes(bytes(data))
    result = tl.run_timeline(str(damaged), PRE, class_names("demo"), uniform, progress=False)
    assert result.unreadable and all(u.reason.startswith("DECORDError: ") and "[" not in u.reason
                                     for u in result.unreadable)
    covered = sum(s.end_s - s.start_s for s in result.segments) + sum(u.end_s - u.start_s for u in result.unreadable)
    assert covered == pytest.approx(result.duration_s, abs=1e-3) and result.segments


def test_real_files_short_missing_and_not_a_video(folder, tmp_path):
    p = Predictor.from_pretrained(folder, verbose=False)
    short = tmp_path / "short.mp4"
    write_long_video(short, LongVideoCfg(seconds=1.5, size=32))                     # 18 frames < one 29-frame window
    r = p.predict_timeline(short, progress=False)
    assert len(r.starts) == 1 and len(r.segments) == 1 and "shorter than one window" in r.notes[0]
    assert r.segments[0].label == p.predict(str(short))[0]["label"]        # the same answer as a clip
    from mmlookup.inference.inputs import InputError

    with pytest.raises(InputError, match="missing file"):
        p.predict_timeline(tmp_path / "nope.mp4", progress=False)
    (tmp_path / "text.mp4").write_text("not a video")
    with pytest.raises(InputError, match="cannot open"):
        p.predict_timeline(tmp_path / "text.mp4", progress=False)


def test_confidence_measures():
    probs = torch.tensor([[0.45, 0.45, 0.1], [0.45, 0.1, 0.45 - 0.36]])
    assert confidence(probs, "max").tolist() == pytest.approx([0.45, 0.45])
    assert confidence(probs, "margin").tolist() == pytest.approx([0.0, 0.35])
    with pytest.raises(ValueError, match="unknown confidence"):
        confidence(probs, "entropy")


def test_cascade_escalates_only_unsure_items_and_pays_every_stage_it_ran():
    calls: list[list[float]] = []
    sure, unsure = torch.tensor([0.9, 0.05, 0.05]), torch.tensor([0.4, 0.35, 0.25])

    def stage(answer_unsure: torch.Tensor, j: int):
        def run(x: torch.Tensor) -> torch.Tensor:
            calls.append((j, x[:, 0].tolist()))
            return torch.stack([sure if v > 0 else answer_unsure for v in x[:, 0]])
        return run

    x = torch.tensor([[1.0], [-1.0], [2.0], [-2.0]])                        # items 1 and 3 are hard
    final = torch.tensor([0.1, 0.8, 0.1])
    probs, level, spent = escalate([stage(unsure, 0), stage(unsure, 1), stage(final, 2)], [1, 2, 4], x, 0.5)
    assert [c[1] for c in calls] == [[1.0, -1.0, 2.0, -2.0], [-1.0, -2.0], [-1.0, -2.0]]
    assert level.tolist() == [0, 2, 0, 2] and spent.tolist() == [1, 7, 1, 7]
    assert torch.equal(probs[1], final) and torch.equal(probs[0], sure)
    calls.clear()
    _, level, _ = escalate([stage(unsure, 0), stage(final, 1)], [1, 2], x, 0.0)   # C = 0: never escalate
    assert level.tolist() == [0, 0, 0, 0] and len(calls) == 1


def test_the_simulated_cost_is_what_the_running_cascade_spends():
    g = torch.Generator().manual_seed(0)
    stage_probs = [torch.softmax(torch.randn(50, 5, generator=g) * 2, -1) for _ in range(3)]
    gmacs = [1.0, 2.0, 4.0]
    x = torch.arange(50)
    confs = torch.stack([confidence(p) for p in stage_probs[:-1]])
    for c in (0.0, 0.2, 0.5, 0.9, float("inf")):
        fns = [lambda idx, p=p: p[idx] for p in stage_probs]
        probs, level, spent = escalate(fns, gmacs, x, c)
        assert float(spent.mean()) == pytest.approx(cascade_cost(confs, gmacs, c))
        assert torch.equal(probs, torch.stack(stage_probs)[level, x])


def test_calibration_meets_the_budget_with_the_largest_threshold():
    confs = torch.tensor([[0.1, 0.2, 0.3, 0.9], [0.05, 0.5, 0.6, 0.95]])    # after stage 0 and stage 1
    gmacs = [1.0, 2.0, 4.0]                                                   # cumulative 1, 3, 7
    assert cascade_cost(confs, gmacs, 0.0) == 1.0 and cascade_cost(confs, gmacs, float("inf")) == 7.0
    c, cost = calibrate(confs, gmacs, 3.0)
    assert cost <= 3.0 and cost == cascade_cost(confs, gmacs, c)
    assert cascade_cost(confs, gmacs, c + 0.2) > 3.0 or c == float("inf")   # a larger C would not fit
    costs = [cascade_cost(confs, gmacs, t) for t in np.linspace(0, 1, 21)]
    assert costs == sorted(costs)                                             # cost only grows with C
    assert calibrate(confs, gmacs, 100.0)[0] == float("inf")
    with pytest.raises(ValueError, match="cheapest setting alone costs 1"):
        calibrate(confs, gmacs, 0.5)


def test_cascade_settings_per_family_and_on_a_real_model(folder, video, tmp_path):
    p = Predictor.from_pretrained(folder, verbose=False)
    settings = parse_cascade(p.loaded, "2x4x4,1x2x2,2x2x2")
    cascade = Cascade(p, settings, threshold=2.0)                            # > any margin: always escalate
    assert cascade.labels == ["grid 1x2x2", "grid 2x2x2", "grid 2x4x4"] and cascade.gmacs == sorted(cascade.gmacs)
    r = p.predict_timeline(video, cascade=cascade, progress=False)
    assert set(r.settings) == {"grid 2x4x4"}
    assert r.to_dict()["mean_gmacs_per_window"] == pytest.approx(sum(cascade.gmacs))
    p.configure(grid="2x4x4")
    fixed = p.predict_timeline(video, progress=False)
    assert torch.allclose(fixed.raw_probs, r.raw_probs, atol=1e-5)          # the last stage answers every window
    cascade.threshold = 0.0
    r0 = p.predict_timeline(video, cascade=cascade, progress=False)
    assert set(r0.settings) == {"grid 1x2x2"}
    budget = 0.5 * (cascade.gmacs[0] + sum(cascade.gmacs))
    cascade.calibrate(tl.sample_windows(str(video), p.loaded.preprocess, count=16), budget)
    assert cascade.calibration["mean_gmacs"] <= budget
    with pytest.raises(ValueError, match="is a evit setting"):
        parse_cascade(p.loaded, "rho=0.5,1.0")
    vit = tmp_path / "vit"
    model = create_classifier("vit_nano", num_classes=8, num_frames=8, img_size=32, patch_size=8)
    model.save_pretrained(vit)
    pv = Predictor.from_pretrained(vit, verbose=False)
    evit = parse_cascade(pv.loaded, "rho=0.5,0.7,1.0")
    assert [s.encoder for s in evit] == ["evit_nano"] * 3 and evit[1].kwargs == {"keep_rate": 0.7}
    c = Cascade(pv, parse_cascade(pv.loaded, "r=0,8"), threshold=0.1)
    assert c.labels == ["r 8", "r 0"] and c.gmacs[0] < c.gmacs[1]
    with pytest.raises(ValueError, match="at least two"):
        parse_cascade(pv.loaded, "r=4")


def test_long_video_ground_truth_and_metrics(video):
    truth = read_truth(video.with_suffix(".json"))
    assert truth.frames == 240 and truth.segments[0].start == 0 and truth.segments[-1].end == 240
    assert all(a.end == b.start and a.label != b.label for a, b in zip(truth.segments, truth.segments[1:]))
    assert ground_truth(LongVideoCfg(seconds=20, seed=3, size=32))["segments"] == json.loads(video.with_suffix(".json")
                                                                                    .read_text())["segments"]
    m16 = ground_truth(LongVideoCfg(seconds=30, classes="motion16", seed=1))
    assert m16["fps"] == 8 and {s["label"] for s in m16["segments"]} <= set(class_names("motion16"))
    from mmlookup.data.longvideo import _clip_frames

    frames = _clip_frames(np.random.default_rng(0), LongVideoCfg(classes="motion16", size=32).resolved(), "approaching")
    assert frames.shape == (8, 32, 32, 3)
    with pytest.raises(ValueError, match="unknown class set"):
        LongVideoCfg(classes="k700").resolved()
    segs = [(s.label, s.start, s.end) for s in truth.segments]
    assert segment_f1(segs, segs) == (100.0, 100.0, 100.0)
    shifted = [(lab, a + (b - a) // 3, b + (b - a) // 3) for lab, a, b in segs]   # IoU 0.5 exactly: still a match
    assert segment_f1(shifted, segs)[2] == 100.0
    assert segment_f1([(lab, a + (b - a) // 2 + 1, b) for lab, a, b in segs], segs)[2] == 0.0   # IoU < 0.5: none


def test_perfect_timeline_scores_100_and_the_cli_writes_everything(folder, video, tmp_path, capsys):
    truth = read_truth(video.with_suffix(".json"))
    classes = class_names("demo")

    def oracle(views: torch.Tensor) -> torch.Tensor:                        # ground truth at each window centre
        return oracle.rows.pop(0)

    plan = tl.plan_windows(240, PRE, 29, 14)
    owner = [truth.segments[[s.start <= w.centre < s.end for s in truth.segments].index(True)] for w in plan]
    oracle.rows = [torch.nn.functional.one_hot(torch.tensor([classes.index(o.label)]), 8).float() for o in owner]
    r = tl.run_timeline(str(video), PRE, classes, oracle, batch_windows=1, prefetch_batches=0, progress=False)
    score = score_timeline(r, truth)
    assert score["frame_accuracy"] > 90 and score["f1_50"] > 80
    rc = main(["predict", str(folder), str(video), "--timeline", "--json", str(tmp_path / "t.json"), "--csv",
               str(tmp_path / "t.csv"), "--plot", str(tmp_path / "t.png"), "--truth", str(video.with_suffix(".json")),
               "--no-progress"])
    assert rc == 0
    assert "segment F1@0.5" in capsys.readouterr().out and (tmp_path / "t.png").stat().st_size > 1000
    data = json.loads((tmp_path / "t.json").read_text())
    assert data["segments"] and data["windows"][0]["labels"] and data["frames"] == 240
    assert (tmp_path / "t.csv").read_text().startswith("kind,start_s,end_s,label,score,setting\nsegment,0.000,")
    budget = 0.03
    assert main(["predict", str(folder), str(video), "--timeline", "--cascade", "1x2x2,2x2x2,2x4x4", "--gmacs-budget",
                 str(budget), "--json", str(tmp_path / "c.json"), "--no-progress"]) == 0
    data = json.loads((tmp_path / "c.json").read_text())
    assert data["setting"] == "cascade" and data["calibration"]["mean_gmacs"] <= budget
    assert data["calibration"]["clips"] == len(data["windows"])                # 17 windows, fewer than 64
    assert {w["setting"] for w in data["windows"]} <= {"grid 1x2x2", "grid 2x2x2", "grid 2x4x4"}
    assert "escalate while margin <" in capsys.readouterr().out
    for extra, message in ((["--timeline", "--cascade", "1x2x2,2x2x2"], "--cascade needs --confidence C or "
                            "--gmacs-budget X"), (["--smooth", "3"], "--smooth needs --timeline")):
        with pytest.raises(SystemExit) as exit_:
            main(["predict", str(folder), str(video), *extra])
        assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_demo_page_timeline_logic(folder, video, tmp_path):
    from mmlookup.inference.app import DemoApp

    app = DemoApp(Predictor.from_pretrained(folder, verbose=False), out_dir=str(tmp_path))
    picture, text = app.timeline(str(video), "1x2x2,2x4x4", 0.2)
    assert Path(picture).stat().st_size > 1000 and "| start s | end s | label | score |" in text
    assert "cascade grid 1x2x2" in text and "GMACs per window" in text
    picture, text = app.timeline(str(video), "rho=0.5,1.0", 0.2)
    assert picture is None and "is a evit setting" in text
    picture, text = app.timeline(str(tmp_path / "gone.mp4"))
    assert picture is None and "unreadable: gone.mp4" in text


def test_min_segment_gives_short_runs_to_the_more_probable_neighbour():
    a, b, c = torch.eye(3) * 0.7 + 0.1
    mix = a * 0.4 + c * 0.6                                                 # top c, but a beats b over it
    probs = torch.stack([a, a, a, b, b, a, a, mix, b, b, b])
    bounds = tl.owner_bounds(list(range(0, 110, 10)), 20, 120)
    assert tl.window_labels(probs, bounds) == [0, 0, 0, 1, 1, 0, 0, 2, 1, 1, 1]
    # 25 frames: the one-window run of c goes first, to a (0.38 over it, b 0.1); then the 20-frame run of b
    labels = tl.window_labels(probs, bounds, min_frames=25)
    assert labels == [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1]
    segs = tl.merge_segments(probs, bounds, list("abc"), fps=10, min_frames=25)
    assert [(s.label, s.start_s, s.end_s) for s in segs] == [("a", 0.0, 8.5), ("b", 8.5, 12.0)]
    holed = probs.clone()
    holed[7] = float("nan")                                                 # no borrowing across an unreadable window
    assert tl.window_labels(holed, bounds, min_frames=25)[:7] == [0] * 7
    assert tl.window_labels(holed, bounds, min_frames=25)[7] == -1
