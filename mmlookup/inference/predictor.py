"""``Predictor``: a trained or imported classifier answering "what is in these videos?".

    from mmlookup import Predictor
    predictor = Predictor.from_pretrained("runs/demo/lookupvit", gmacs_budget=0.05)
    predictor.predict("clip.mp4")            # [{"label": "rotating clockwise", "score": 0.93}, ...]
    predictor.predict(["a.mp4", "b.jpg"])    # one list per input (Hugging Face pipelines' shape)
    probs = predictor.probabilities(clips)   # batched tensors (B, C, T, H, W), normalised: (B, classes)

``mmlookup predict`` and ``mmlookup app`` are thin layers over it. Views are averaged as softmax probabilities;
the classifier's ``(B, K)`` logits already combine a two-head LookupViT's heads as evaluation does (the mean of
their probabilities, DESIGN §4).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch

from mmlookup.devices import resolve_device
from mmlookup.inference.budget import Setting, apply, choose_by_gmacs, choose_by_latency, current_setting
from mmlookup.inference.inputs import InputError, InputItem, Views, expand_inputs, read_views
from mmlookup.inference.preprocess import check_clips
from mmlookup.inference.source import Grid, LoadedModel, describe, load_for_inference, set_dtype
from mmlookup.words import plural

Label = dict[str, Any]


@dataclass
class FileResult:
    """The prediction for one input file, or why there is none."""

    path: str
    labels: list[Label] = field(default_factory=list)      # [{"label", "score"}], best first
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Summary:
    """Counts of a :meth:`Predictor.predict_files` call."""

    total: int
    predicted: int
    failed: int
    with_notes: int
    seconds: float

    def line(self) -> str:
        return (f"{plural(self.total, 'input')}: {self.predicted} predicted ({self.with_notes} with notes), "
                f"{self.failed} unreadable or unsupported; {self.seconds:.1f} s")


def parse_views(text: str) -> tuple[int, int]:
    """``"2x3"`` → ``(2, 3)`` (clips × crops; crops 1 or 3)."""
    try:
        clips, crops = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"views must be CLIPSxCROPS such as 1x1 or 2x3, got {text!r}") from None
    if clips < 1 or crops not in (1, 3):
        raise ValueError(f"views {text!r}: clips must be >= 1 and crops 1 or 3")
    return clips, crops


class Predictor:
    """Top-k class predictions for files or clips from MODEL (a run, checkpoint, model or Hugging Face folder).

    Build it with :meth:`from_pretrained`; every option there is also an attribute it keeps.
    """

    def __init__(self, loaded: LoadedModel, *, device: str | None = None, dtype: str = "float32",
                 batch_size: int = 8, top_k: int = 5, views: str | tuple[int, int] | None = None,
                 grid: Grid | str | None = None, keep_rate: float | None = None, r: int | None = None,
                 budget: Any = "unset", gmacs_budget: float | None = None, latency_budget: float | None = None,
                 verbose: bool = True, backend: str = "pytorch") -> None:
        if batch_size < 1 or top_k < 1:
            raise ValueError(f"batch_size and top_k must be >= 1, got {batch_size} and {top_k}")
        if gmacs_budget is not None and latency_budget is not None:
            raise ValueError("give a GMACs budget or a latency budget, not both")
        self.loaded, self.batch_size, self.top_k, self.verbose = loaded, batch_size, top_k, verbose
        self.device = resolve_device(device)
        self.dtype = set_dtype(loaded.model, dtype)
        loaded.model.to(self.device).eval()
        if views is not None:
            clips, crops = parse_views(views) if isinstance(views, str) else views
            loaded.preprocess.num_clips, loaded.preprocess.num_crops = clips, crops
        self.latency_ms: float | None = None
        self.model = loaded.model
        self.grid: Grid | None = None
        self.backend, self._ort = backend, None
        if backend == "onnxruntime":
            self._ort = self._open_onnx(loaded, dtype)
        elif backend != "pytorch":
            raise ValueError(f"unknown backend {backend!r}; valid: pytorch, onnxruntime")
        self.configure(grid=grid, keep_rate=keep_rate, r=r, budget=budget, gmacs_budget=gmacs_budget,
                       latency_budget=latency_budget)

    @classmethod
    def from_pretrained(cls, model: str | Path, **options: Any) -> "Predictor":
        """Load MODEL (:func:`mmlookup.inference.source.load_for_inference`) and set it up.

        Options: ``device`` (default cuda when there is one), ``dtype`` (``float32`` | ``bfloat16`` | ``float16``),
        ``batch_size`` (views per forward pass), ``top_k``, ``views`` (``"CLIPSxCROPS"``; default the recipe's
        test protocol), ``grid`` (LookupViT), ``keep_rate`` (EViT), ``r`` (ToMe), ``budget`` (ATS),
        ``gmacs_budget`` / ``latency_budget`` (choose the setting: :mod:`mmlookup.inference.budget`),
        ``checkpoint`` (a run's checkpoint name; default ``best``, else the newest), ``verbose``, ``backend``
        (``pytorch`` or ``onnxruntime``: the folder's ``model.onnx`` from ``mmlookup export RUN OUT --format onnx``,
        float32, at the setting it was exported with; the same outputs as the PyTorch backend to float tolerance).
        """
        checkpoint = options.pop("checkpoint", None)
        return cls(load_for_inference(model, checkpoint=checkpoint), **options)

    # ------------------------------------------------------------------------------------------------ settings

    def configure(self, *, grid: Grid | str | None = None, keep_rate: float | None = None, r: int | None = None,
                  budget: Any = "unset", gmacs_budget: float | None = None,
                  latency_budget: float | None = None) -> Setting:
        """Change the compute setting (the app's control calls this); return the setting now in use."""
        loaded, fam = self.loaded, self.loaded.family
        self.latency_ms = None
        manual = {k: v for k, v in (("grid", grid), ("keep_rate", keep_rate), ("r", r)) if v is not None}
        if budget != "unset":
            manual["budget"] = budget
        if self._ort is not None:
            if manual or gmacs_budget is not None or latency_budget is not None:
                raise ValueError(f"the ONNX graph runs at the setting it was exported with ({self._ort.setting}); "
                                 "re-export with mmlookup export --format onnx --grid/--keep-rate/--r/--budget, or "
                                 "use --backend pytorch")
            exported = self._ort.setting.get("grid")
            self.setting = current_setting(loaded, grid=tuple(exported) if exported else None)
            self.grid = self.setting.grid
            return self.setting
        if manual and (gmacs_budget is not None or latency_budget is not None):
            raise ValueError(f"--{next(iter(manual)).replace('_', '-')} fixes the setting; a compute budget "
                             "chooses it: give one or the other")
        wants = {"grid": "lookupvit", "keep_rate": "evit", "r": "tome", "budget": "ats"}
        for key in manual:
            if wants[key] != fam:
                raise ValueError(f"--{key.replace('_', '-')} is for {wants[key]} models; this is {loaded.encoder}")
        if gmacs_budget is not None:
            setting = choose_by_gmacs(loaded, float(gmacs_budget))
            self.model = apply(loaded, setting)
            self._say(f"GMACs budget {gmacs_budget:g}: chose {setting.describe()}")
        elif latency_budget is not None:
            setting, self.latency_ms = choose_by_latency(loaded, float(latency_budget), self.device, self.dtype)
            self.model = apply(loaded, setting)
            self._say(f"latency budget {latency_budget:g} ms: chose {setting.describe()}, {self.latency_ms:.1f} ms per "
                      f"view on {self.device}")
        else:
            self.model = loaded.model
            g = grid
            if isinstance(g, str):
                from mmlookup.encoders.common import parse_grid

                g = parse_grid(g)
            knobs = {k: v for k, v in manual.items() if k != "grid"}
            from mmlookup.inference.budget import _set_knob

            _set_knob(self.model.encoder, knobs)
            setting = current_setting(loaded, grid=tuple(g) if g else None)
        self.grid = setting.grid
        self.setting = setting
        return setting

    def _open_onnx(self, loaded: LoadedModel, dtype: str) -> Any:
        """The onnxruntime session of a model folder's ``model.onnx``; the PyTorch model is set to the graph's
        setting so that descriptions and input checks match what runs."""
        from mmlookup.inference.budget import _set_knob
        from mmlookup.inference.ort import OrtClassifier

        if loaded.kind != "model folder":
            raise ValueError(f"backend onnxruntime needs a folder with model.onnx, {loaded.source} is a {loaded.kind}: "
                             f"mmlookup export RUN OUT --format onnx")
        if dtype not in ("float32", "fp32"):
            raise ValueError(f"backend onnxruntime runs the float32 graph; --dtype {dtype} is for backend pytorch")
        session = OrtClassifier(loaded.source, device=self.device.type)
        _set_knob(loaded.model.encoder, {k: v for k, v in session.setting.items() if k in ("keep_rate", "r",
                                                                                             "budget")})
        return session

    def _say(self, text: str) -> None:
        if self.verbose:
            print(text)

    def describe(self) -> str:
        """What runs: the model line, the views and the compute setting."""
        p = self.loaded.preprocess
        backend = "; onnxruntime (model.onnx)" if self._ort is not None else ""
        return (f"{describe(self.loaded)}; views {p.num_clips}x{p.num_crops}; setting {self.setting.describe()}; "
                f"{self.device}, {str(self.dtype).replace('torch.', '')}{backend}")

    @property
    def classes(self) -> list[str]:
        return self.loaded.classes

    # ------------------------------------------------------------------------------------------------ tensors

    @torch.inference_mode()
    def probabilities(self, clips: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``(B, K)`` of normalised clips ``(B, C, T, H, W)`` or views ``(B, V, C, T, H, W)``
        (views averaged), in batches of ``batch_size`` views; softmax of the classifier's ``(B, K)`` logits.

        Tensors are not normalised for you (``uint8`` is refused): :func:`mmlookup.create_transform` turns decoded
        frames into this input. A wrong rank, channel axis, frame count or size, dtype, an empty batch or NaN / inf
        values are a one-line ``ValueError`` (:func:`~mmlookup.inference.preprocess.check_clips`).
        """
        enc = self.model.encoder
        size = enc.img_size[0] if isinstance(enc.img_size, (tuple, list)) else enc.img_size
        clips = check_clips(clips, int(enc.num_frames), int(size))
        if clips.ndim == 5:
            clips = clips[:, None]
        b, v = clips.shape[:2]
        flat = clips.flatten(0, 1)
        out = []
        for i in range(0, len(flat), self.batch_size):
            x = flat[i:i + self.batch_size].to(self.device, self.dtype)
            if self._ort is not None:
                logits = self._ort(x)                                    # (n, K) from model.onnx
            else:
                logits = self.model(x, self.grid) if self.grid is not None else self.model(x)  # (n, K), heads combined
            out.append(logits.float().softmax(-1).cpu())
        return torch.cat(out).unflatten(0, (b, v)).mean(1)

    def top(self, probs: torch.Tensor, k: int | None = None) -> list[list[Label]]:
        """``(B, K)`` probabilities → per row the top ``k`` as ``{"label", "score"}``."""
        k = min(k or self.top_k, probs.shape[-1])
        scores, idx = probs.topk(k, dim=-1)
        return [[{"label": self.classes[int(i)], "score": float(s)} for s, i in zip(srow, irow)]
                for srow, irow in zip(scores, idx)]

    # ------------------------------------------------------------------------------------------------ files

    def read(self, path: str | Path) -> Views:
        """One file as this model's views (raises :class:`~mmlookup.inference.inputs.InputError`)."""
        return read_views(str(path), self.loaded.preprocess)

    def predict(self, inputs: str | Path | torch.Tensor | Sequence[str | Path], top_k: int | None = None
                ) -> list[Label] | list[list[Label]]:
        """Top-k ``[{"label", "score"}]``, as a Hugging Face pipeline returns them: one path (or one clip tensor
        ``(C, T, H, W)``) gives one flat list; a list of paths or a batch ``(B, C, T, H, W)`` / views
        ``(B, V, C, T, H, W)`` gives one list per input (see :meth:`probabilities` for tensors).

        Raises:
            InputError: a path that cannot be read (``predict_files`` reports and goes on instead).
            ValueError: a tensor that is not this model's input.
        """
        if isinstance(inputs, torch.Tensor):
            if inputs.ndim == 4:
                return self.top(self.probabilities(inputs[None]), top_k)[0]
            return self.top(self.probabilities(inputs), top_k)
        single = isinstance(inputs, (str, Path))
        paths = [inputs] if single else list(inputs)
        for path in paths:
            if Path(path).is_dir():
                raise InputError(str(path), "a folder: predict takes files (predict_files expands folders)")
        results = self.predict_files(paths, top_k=top_k, progress=False, expand=False)
        for r in results:
            if r.error is not None:
                raise InputError(r.path, r.error)
        labels = [r.labels for r in results]
        return labels[0] if single else labels

    def predict_files(self, inputs: Iterable[str | Path], *, top_k: int | None = None, progress: bool = True,
                      expand: bool = True) -> list[FileResult]:
        """Predict every file of ``inputs`` (files, folders, list files when ``expand``); a file that cannot be
        used gets ``error`` and the others go on. ``self.summary`` counts them afterwards."""
        from tqdm.auto import tqdm

        start = time.perf_counter()
        items = expand_inputs(inputs) if expand else [InputItem(str(p)) for p in inputs]
        results = [FileResult(it.path, error=it.problem) for it in items]
        todo = [r for r in results if r.error is None]
        pending: list[tuple[FileResult, torch.Tensor]] = []

        def flush() -> None:
            if not pending:
                return
            views = [v for _, v in pending]
            if all(v.shape == views[0].shape for v in views):
                probs = self.probabilities(torch.stack(views))
            else:
                probs = torch.cat([self.probabilities(v[None]) for v in views])
            for (res, _), labels in zip(pending, self.top(probs, top_k)):
                res.labels = labels
            pending.clear()

        views_per_file = max(1, self.loaded.preprocess.num_clips * self.loaded.preprocess.num_crops)
        files_per_batch = max(1, self.batch_size // views_per_file)
        bar = tqdm(todo, desc="predict", unit="file", disable=not progress or len(todo) < 2, leave=False)
        for res in bar:
            try:
                read = self.read(res.path)
            except InputError as err:
                res.error = err.reason
                continue
            res.notes = read.notes
            pending.append((res, read.video))
            if len(pending) >= files_per_batch:
                flush()
        flush()
        self.summary = Summary(len(results), sum(r.ok for r in results), sum(not r.ok for r in results),
                               sum(bool(r.ok and r.notes) for r in results), time.perf_counter() - start)
        return results

    # ------------------------------------------------------------------------------------------------ long videos

    def predict_timeline(self, path: str | Path, *, window: str | float | None = None,
                         stride: str | float | None = None, smooth: int = 1,
                         min_segment: str | float | None = None, top_k: int | None = None,
                         cascade: Any = None, progress: bool = True, batch_windows: int | None = None,
                         prefetch: int = 2):
        """A timeline of labels over a long video: windows read as the recipe reads test clips, decoded as a stream
        in a background thread, classified in batches, merged into segments (:mod:`mmlookup.inference.timeline`).

        Args:
            path: a video file.
            window: window length: seconds (``2.5`` or ``"2.5s"``) or frames (``"29f"``); default one test clip's
                span.
            stride: step between window starts (same units); default half the window.
            smooth: moving average of the probabilities over this many windows (odd; 1 = none).
            min_segment: shortest segment (same units as ``window``): shorter runs of windows take a neighbour's
                label (the one more probable over them); default none.
            top_k: labels kept per window (default the predictor's ``top_k``).
            cascade: a :class:`~mmlookup.inference.cascade.Cascade` with its threshold set: each window runs its
                settings cheapest first (adaptive compute) instead of the predictor's one setting.
            progress: a progress bar with ETA.
            batch_windows: windows per forward pass (default: ``batch_size`` views' worth, at least 1).
            prefetch: decoded batches kept ready ahead of the model (decoding overlaps compute).

        Returns:
            a :class:`~mmlookup.inference.timeline.TimelineResult` (``segments``, ``unreadable``, ``notes``,
            ``to_dict()``, ``write_json``, ``write_csv``).

        Raises:
            InputError: the file cannot be opened at all (a stretch that does not decode is reported instead).
        """
        from mmlookup.inference.timeline import run_timeline

        pre = self.loaded.preprocess
        if batch_windows is None:
            batch_windows = max(1, self.batch_size // max(1, pre.num_clips * pre.num_crops))
        return run_timeline(str(path), pre, self.classes, cascade if cascade is not None else self.probabilities,
                            window=window, stride=stride, smooth=smooth, min_segment=min_segment,
                            top_k=top_k or self.top_k,
                            batch_windows=batch_windows, prefetch_batches=prefetch, progress=progress)
