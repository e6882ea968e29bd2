"""``mmlookup app MODEL [--captioner RUN]``: a demo web page (Gradio) over :class:`~mmlookup.inference.Predictor`.

Upload (or pick an example) video or image; the page shows the top-5 classes as a bar chart, the token map of
``mmlookup visualize`` (:mod:`mmlookup.viz`), the GMACs per view and the measured latency of the setting in use,
and a caption when a captioning run is given. A control (compressed grid / keep rate / r / ATS budget, or a GMACs
budget) re-runs the current file at once. Unreadable inputs are shown with their reason and counted. For a long
video, **timeline** draws its label bands and segments (:mod:`mmlookup.inference.timeline`), optionally through a
cascade of settings (:mod:`mmlookup.inference.cascade`; the picture then shows which setting answered each window),
with a progress bar while it runs.

Offline: Gradio's analytics are off, no share link is made, no web font is requested (system fonts), and
server-side rendering (a Node process) is off. Needs the optional extra ``pip install mmlookup[app]``.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from mmlookup.inference.predictor import Predictor

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

BUDGET_CHOICE = "GMACs budget (below)"


def missing_app_dependency() -> str | None:
    """``None`` when Gradio imports; else a one-line install hint."""
    try:
        import gradio  # noqa: F401
    except ImportError:
        return "the demo page needs Gradio: pip install 'mmlookup[app]'"
    return None


def check_port(host: str, port: int) -> None:
    """``port`` is a TCP port that ``host`` can listen on now (checked before the model loads, as Gradio binds it).

    Raises:
        ValueError: out of range, already in use, or an address this machine cannot listen on.
    """
    import errno
    import socket

    if not 1 <= port <= 65535:
        raise ValueError(f"--port {port} is not a TCP port; valid: 1 to 65535")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise ValueError(f"--host {host!r} is not an address here ({err.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Gradio does: a socket in TIME_WAIT is free
        try:
            s.bind(address)
        except OSError as err:
            why = "is in use (another app or server listens there); pick another with --port" \
                if err.errno == errno.EADDRINUSE else f"cannot be opened ({err.strerror})"
            raise ValueError(f"port {port} on {host} {why}") from None


def new_counts() -> dict[str, int]:
    """What one page session has seen so far (a ``gr.State``: per browser session, never shared)."""
    return {"predicted": 0, "unreadable": 0, "with notes": 0}


def hide_upload_path(text: str, path: str) -> str:
    """``text`` with ``path`` (the server's upload copy: Gradio's cache folder and hash) shown as its file name."""
    p = Path(path)
    for long in (str(p), str(p.resolve()) if p.is_absolute() else None):
        if long:
            text = text.replace(long, p.name)
    for folder in (str(p.parent), str(p.parent.resolve())):
        if folder not in (".", "/"):
            text = text.replace(folder + os.sep, "")
    return text


def example_label(path: str, classes: list[str]) -> str:
    """An example's button text: its class when its folder is one of the model's classes (the K400 layout
    ``videos/<class>/<clip>.mp4``), else its file name."""
    folder = Path(path).parent.name
    for name in (folder, folder.replace("_", " ")):
        if name in classes:
            return name
    return Path(path).name


@dataclass
class AppResult:
    """What the page shows for one request."""

    labels: dict[str, float] = field(default_factory=dict)    # top-5 name -> probability (gr.Label)
    token_map: str | None = None                              # PNG path
    info: str = ""                                            # setting, GMACs, latency (markdown)
    caption: str = ""
    status: str = ""                                          # errors, notes and the running counts


class DemoApp:
    """The page's logic, independent of Gradio (tests call :meth:`analyse` directly)."""

    def __init__(self, predictor: Predictor, captioner: str | None = None, out_dir: str | None = None) -> None:
        self.predictor = predictor
        self.out_dir = Path(out_dir or tempfile.mkdtemp(prefix="mmlookup_app_"))
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.counts = new_counts()  # the counts of callers that keep none (each page session keeps its own)
        self.captioner = _Captioner(captioner) if captioner else None
        from mmlookup.inference.budget import candidates

        self.settings = {self._choice(s): s for s in candidates(predictor.loaded)}
        self.settings = self.settings or {self._choice(predictor.setting): predictor.setting}  # no grids recorded
        self.default_choice = self._choice(predictor.setting) if self._choice(predictor.setting) in self.settings \
            else next(iter(self.settings))

    @staticmethod
    def _choice(setting) -> str:
        name = setting.label if setting.label != "-" else "no reduction"
        if setting.encoder.split("_")[0] != setting.family or setting.top1 is not None:
            name = f"{setting.encoder} {name}"
        return f"{name} ({setting.gmacs:.3g} GMACs)"

    def choices(self) -> list[str]:
        return [*self.settings, BUDGET_CHOICE]

    def set_setting(self, choice: str | None, gmacs_budget: float | None) -> tuple[str, bool]:
        """Apply a choice of the control; return a line saying what runs, and whether anything can run: a budget
        no setting meets is refused, as ``mmlookup predict --gmacs-budget`` refuses it (exit code 2)."""
        from mmlookup.inference.budget import apply

        p = self.predictor
        if choice == BUDGET_CHOICE:
            if gmacs_budget is None:
                return "set a GMACs budget > 0", False
            try:
                p.configure(gmacs_budget=float(gmacs_budget))
            except ValueError as err:
                return f"**budget not met:** {err}", False
            return f"GMACs budget {gmacs_budget:g}: chose {p.setting.describe()}", True
        setting = self.settings.get(choice or self.default_choice, self.settings[self.default_choice])
        p.model = apply(p.loaded, setting)
        p.grid, p.setting = setting.grid, setting
        return f"setting: {setting.describe()}", True

    def analyse(self, path: str | None, choice: str | None = None, gmacs_budget: float | None = None,
                counts: dict[str, int] | None = None) -> AppResult:
        """Predict one file with the chosen setting; never raises for a bad file (it is reported and counted in
        ``counts``, the page session's, default the app's own); a budget no setting meets predicts nothing."""
        import torch

        from mmlookup.inference.inputs import InputError

        counts = self.counts if counts is None else counts
        res = AppResult()
        chosen, runnable = self.set_setting(choice, gmacs_budget)
        res.info = chosen
        if not runnable:
            res.status = self._counts("nothing predicted: choose a setting or a budget that can be met", counts)
            return res
        if not path:
            res.status = self._counts("upload a video or image, or pick an example", counts)
            return res
        p = self.predictor
        name = Path(path).name
        try:
            views = p.read(path)
        except InputError as err:
            counts["unreadable"] += 1
            res.status = self._counts(f"**unreadable: {name}**: {hide_upload_path(err.reason, path)}", counts)
            return res
        start = time.perf_counter()
        probs = p.probabilities(views.video[None])
        seconds = time.perf_counter() - start
        res.labels = {x["label"]: x["score"] for x in p.top(probs, 5)[0]}
        counts["predicted"] += 1
        counts["with notes"] += bool(views.notes)
        v = views.video.shape[0]
        res.info = (f"{chosen}  \n**{p.setting.gmacs:.4g} GMACs per view** ({v} view{'s' if v > 1 else ''}); "
                    f"latency **{seconds * 1e3:.0f} ms** for this input ({seconds * 1e3 / v:.0f} ms per view) on "
                    f"{p.device}, {str(p.dtype).replace('torch.', '')}")
        res.token_map = self._token_map(path, views)
        if self.captioner is not None:
            with torch.inference_mode():
                res.caption = self.captioner(path)
        notes = "".join(f"  \nnote: {hide_upload_path(n, path)}" for n in views.notes)
        res.status = self._counts(f"predicted {name}{notes}", counts)
        return res

    def timeline(self, path: str | None, cascade: str = "", confidence: float | None = None,
                 smooth: int = 3, counts: dict[str, int] | None = None) -> tuple[str | None, str]:
        """A long video's timeline (:meth:`Predictor.predict_timeline`): the picture (label bands, top score and, with
        a cascade, the setting that answered each window) and a markdown table of the segments. Never raises for a
        bad file or bad cascade text: the reason is the markdown."""
        from mmlookup.inference.inputs import InputError

        if not path:
            return None, "upload a long video, then press **timeline**"
        p, name = self.predictor, Path(path).name
        try:
            runner = None
            if cascade and cascade.strip():
                from mmlookup.inference.cascade import Cascade, parse_cascade

                if confidence is None:
                    return None, "give the cascade a confidence threshold C (0..1)"
                runner = Cascade(p, parse_cascade(p.loaded, cascade), threshold=float(confidence))
            result = p.predict_timeline(path, smooth=smooth, cascade=runner, progress=True)
        except InputError as err:
            counts = self.counts if counts is None else counts
            counts["unreadable"] += 1
            return None, self._counts(f"**unreadable: {name}**: {hide_upload_path(err.reason, path)}", counts)
        except ValueError as err:
            return None, f"**cannot run:** {hide_upload_path(str(err), path)}"
        from mmlookup.viz.timeline import plot_timeline

        picture = plot_timeline(result, self.out_dir / f"timeline_{len(list(self.out_dir.iterdir()))}.png")
        lines = [f"**{name}**: {result.duration_s:.1f} s, {len(result.starts)} windows of {result.window} frames "
                 f"every {result.stride}, {result.windows_per_s:.1f} windows/s" +
                 (f"; {runner.describe()}; mean {result.to_dict()['mean_gmacs_per_window']:.4g} GMACs per window"
                  if runner else f"; {p.setting.describe()}"), "",
                 "| start s | end s | label | score |", "|---|---|---|---|"]
        lines += [f"| {s.start_s:.2f} | {s.end_s:.2f} | {s.label} | {s.score:.3f} |" for s in result.segments]
        lines += [f"| {u.start_s:.2f} | {u.end_s:.2f} | *unreadable* | {u.reason} |" for u in result.unreadable]
        lines += [f"note: {n}" for n in result.notes]
        return str(picture), "\n".join(lines)

    @staticmethod
    def _counts(head: str, c: dict[str, int]) -> str:
        return f"{head}  \ninputs so far: {c['predicted']} predicted ({c['with notes']} with notes), " \
               f"{c['unreadable']} unreadable"

    def _token_map(self, path: str, views) -> str | None:
        """The ``mmlookup visualize`` contact sheet of the encoder in use on this file (first view)."""
        try:
            from mmlookup.viz.draw import Layout, contact_sheet
            from mmlookup.viz.media import load_media
            from mmlookup.viz.tokenmaps import token_maps

            p = self.predictor
            pre = p.loaded.preprocess
            enc = p.model.encoder
            media = load_media(path, num_frames=pre.num_frames, img_size=(pre.img_size, pre.img_size),
                               sampling=pre.sampling, frame_interval=pre.frame_interval, mean=pre.mean, std=pre.std)
            video = media.video.to(next(enc.parameters()).device, next(enc.parameters()).dtype)
            if media.is_image and video.shape[2] != pre.num_frames:
                video = video.expand(-1, -1, pre.num_frames, -1, -1)
            frames = media.frames if media.frames.shape[0] == pre.num_frames else \
                media.frames.expand(pre.num_frames, -1, -1, -1)
            maps = token_maps(enc, video.float() if video.dtype != p.dtype else video, grid=p.grid)
            out = self.out_dir / f"{Path(path).stem}_{int(time.time() * 1e3)}.png"
            contact_sheet(frames, maps, out, title=f"{p.setting.encoder} {p.setting.label}", layout=Layout(cell=96))
            return str(out)
        except Exception as err:  # noqa: BLE001 - a picture that cannot be drawn must not hide the prediction
            (self.out_dir / "token_map_error.txt").write_text(f"{type(err).__name__}: {err}\n")
            return None


class _Captioner:
    """A captioning run loaded once; ``captioner(path)`` → caption text."""

    def __init__(self, run: str) -> None:
        from mmlookup.captioning.generate import load_captioner

        self.model, self.tokenizer, self.recipe = load_captioner(run, "cpu")

    def __call__(self, path: str) -> str:
        from mmlookup.captioning.tokenizer import decode
        from mmlookup.data.coco import load_media, make_transform

        c, m = self.recipe.caption, self.recipe.model
        try:
            video = load_media(Path(path), m.num_frames, make_transform(m.img_size))[None]
        except Exception as err:  # noqa: BLE001
            return f"(no caption: {err})"
        ids = self.model.generate(self.model.encode(video), num_beams=c.num_beams, max_length=c.max_length)
        return decode(self.tokenizer, ids.tolist())[0]


def default_examples(predictor: Predictor, limit: int = 4) -> list[str]:
    """A few videos of the run's data (one per class folder) when they are at hand, for the examples row."""
    root = predictor.loaded.extra.get("data_root")
    if not root or not Path(root).is_dir():
        return []
    from mmlookup.inference.inputs import is_media

    seen, out = set(), []
    for f in sorted(Path(root).rglob("*")):
        if f.is_file() and is_media(f) and f.parent not in seen:
            seen.add(f.parent)
            out.append(str(f))
            if len(out) == limit:
                break
    return out


def build_blocks(app: DemoApp, examples: list[str] | None = None):
    """The Gradio page for ``app``."""
    import gradio as gr

    from mmlookup.data.coco import VIDEO_SUFFIXES
    from mmlookup.inference.inputs import IMAGE_SUFFIXES

    p = app.predictor
    title = f"mmlookup: {p.loaded.encoder}"
    with gr.Blocks(title=title, analytics_enabled=False) as blocks:
        gr.Markdown(f"## {title}\n{p.describe()}")
        with gr.Row():
            with gr.Column():
                media = gr.File(label="video or image", file_types=sorted(VIDEO_SUFFIXES | IMAGE_SUFFIXES),
                                type="filepath", elem_id="media")
                setting = gr.Dropdown(app.choices(), value=app.default_choice, label="compute setting",
                                      elem_id="setting")
                budget = gr.Number(value=None, label="GMACs budget per view (with 'GMACs budget')",
                                   elem_id="budget")
                if examples:
                    gr.Examples(examples=[[e] for e in examples], inputs=[media], label="examples",
                                example_labels=[example_label(e, p.classes) for e in examples])
            with gr.Column():
                labels = gr.Label(num_top_classes=5, label="top-5", elem_id="labels")
                info = gr.Markdown(elem_id="info")
                caption = gr.Textbox(label="caption", visible=app.captioner is not None, elem_id="caption")
                status = gr.Markdown(elem_id="status")
        token_map = gr.Image(label="token map", type="filepath", elem_id="token_map")
        with gr.Accordion("long video: timeline of labels (and adaptive compute)", open=False):
            with gr.Row():
                cascade = gr.Textbox(label="cascade settings, cheapest first (e.g. 1x2x2,2x2x2,2x4x4; empty: the "
                                     "setting above)", elem_id="cascade")
                threshold = gr.Number(value=0.3, label="escalate while top-2 margin < C", elem_id="confidence")
                go = gr.Button("timeline", elem_id="timeline_button")
            picture = gr.Image(label="timeline", type="filepath", elem_id="timeline")
            segments = gr.Markdown(elem_id="segments")

        counts = gr.State(new_counts)  # one per browser session: "inputs so far" are that page's

        def timeline(path, cascade_text, c, seen, progress=gr.Progress(track_tqdm=True)):  # noqa: B008 - Gradio's API
            return (*app.timeline(path, cascade_text, c, counts=seen), seen)

        go.click(timeline, inputs=[media, cascade, threshold, counts], outputs=[picture, segments, counts])

        def run(path, choice, gmacs_budget, seen):
            r = app.analyse(path, choice, gmacs_budget, seen)
            return r.labels or None, r.info, r.caption, r.status, r.token_map, seen

        outputs = [labels, info, caption, status, token_map, counts]
        for event in (media.change, setting.change, budget.submit):
            event(run, inputs=[media, setting, budget, counts], outputs=outputs)
    return blocks


def serve(predictor: Predictor, *, captioner: str | None = None, examples: list[str] | None = None,
          host: str = "127.0.0.1", port: int = 7860, block: bool = True):
    """Build and launch the page; with ``block=False`` return the Gradio app (tests close it)."""
    import gradio as gr

    app = DemoApp(predictor, captioner)
    files = examples if examples is not None else default_examples(predictor)
    from mmlookup.inference.inputs import expand_inputs

    files = [it.path for it in expand_inputs(files) if it.problem is None] if files else []
    blocks = build_blocks(app, files)
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["monospace"])  # no web fonts: offline
    allowed = sorted({str(Path(f).parent.resolve()) for f in files} | {str(app.out_dir)})
    blocks.queue(default_concurrency_limit=1)
    # Gradio 6's status tracker announces `common.complete`, a key its English table lacks: the page showed the raw key
    i18n = gr.I18n(en={"common.complete": "Complete"})
    try:  # quiet: Gradio's own lines end with "set `share=True`", which this offline app never does
        blocks.launch(server_name=host, server_port=port, share=False, prevent_thread_lock=True, quiet=True,
                      show_error=True, ssr_mode=False, theme=theme, allowed_paths=allowed, footer_links=[],
                      max_file_size="500mb", i18n=i18n)
    except OSError as err:  # taken between check_port and now: still one line
        raise ValueError(f"port {port} on {host}: {' '.join(str(err).split())}") from None
    if not block:
        return blocks
    print(f"mmlookup app: {blocks.local_url} (Ctrl+C stops it)", flush=True)
    try:
        blocks.block_thread()
    finally:
        blocks.close()
    return None
