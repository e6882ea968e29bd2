"""Recipes: typed dataclasses, recipe files, dotted type-checked overrides, and the resolved dump (DESIGN §2).

A recipe file is a small Python module defining ``get_recipe(arg: str = "") -> Recipe`` (big_vision style);
``arg`` is the text after a colon in ``path.py:arg`` (e.g. ``:runlocal``). A YAML file holding a resolved
recipe (the ``recipe.yaml`` written into every run directory) loads the same way, so a run can be
re-evaluated from its own record. Overrides are ``section.field=value`` strings; values are parsed with
:func:`ast.literal_eval` and checked against the field's annotated type, and an unknown key fails at once,
naming the valid keys.
"""
from __future__ import annotations

import ast
import dataclasses
import importlib.util
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mmlookup.captioning.config import CaptionCfg

Grid = tuple[int, int, int]


def _recipes_dir() -> Path:
    # an installed wheel carries the recipes inside the package (pyproject maps recipes/ to mmlookup/recipes);
    # a source checkout has them at the repository's top level
    inside = Path(__file__).resolve().parent / "recipes"
    return inside if inside.is_dir() else Path(__file__).resolve().parent.parent / "recipes"


#: Where the recipe files live; a relative recipe path is looked up here when not found in cwd.
RECIPES_DIR = _recipes_dir()


@dataclass
class ModelCfg:
    """The encoder and its classification head(s).

    ``grids`` lists LookupViT compressed grids ``(t_p, h_p, w_p)``; training samples one per step and
    evaluation reports each. The first is the default. Empty for other families. ``keep_rate`` is EViT's target
    ρ: the training schedule (``train.keep_rate_*``) changes it for training steps only; every evaluation runs at it.
    """

    encoder: str = "lookupvit_nano"
    num_frames: int = 16
    img_size: int = 224
    tubelet_size: int = 2
    patch_size: int = 16
    drop_path_rate: float = 0.1
    head_dropout: float = 0.0
    grids: tuple[Grid, ...] = ()
    keep_rate: float | None = None  # EViT target keep rate ρ; None = the family's default (0.7)
    pool: str = "auto"  # auto | cls | mean | shared (auto: CLS if the encoder has one; LookupViT: 2 heads, or shared)
    encoder_kwargs: dict[str, Any] = field(default_factory=dict)
    pretrained: str = ""  # checkpoint for the encoder (path), loaded by the registry
    grad_checkpointing: bool = False
    # initial weights from another model: "teacher" (= distill.teacher) or any checkpoint reference; a ViT maps
    # onto LookupViT's compressed stream, EViT / ATS / ToMe take it as is (head included when it fits)
    init_from: str = ""


@dataclass
class DataCfg:
    """Where the videos are and how clips are sampled and augmented (see ``mmlookup.data``)."""

    format: str = "k400"  # k400 | ssv2 | list | folder | imagenet | auto
    root: str = "data/synthetic/k400"
    train_annotations: str = "train.csv"
    val_annotations: str = "validate.csv"
    labels_file: str = ""
    frame_interval: int = 4
    sampling: str = "dense"  # dense | segment
    short_side: int = 256
    rrc_scale: tuple[float, float] = (0.08, 1.0)  # training random-resized-crop area range
    flip: bool = True
    flip_swap_by_name: bool = False
    randaugment: bool = False
    randaugment_ops: int = 4  # n; VideoMAE's rand-m7-n4 (DeiT's ImageNet recipe: n=2, m=9)
    randaugment_magnitude: float = 7.0  # m, on timm's 0-10 scale
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    # generate the synthetic dataset under ``root``'s parent when missing; a --set that moves the data
    # (SYNTHETIC_LOCATION_KEYS) turns it off unless it also sets data.synthetic=True
    synthetic: bool = False
    num_sample: int = 1  # training clips per decoded video (repeated augmentation; train.batch_size counts clips)
    decoder: str = "decord"  # decord | torchcodec (optional extra)
    decode_short_side: int = 0  # > 0: decord scales training frames to this short side while decoding


@dataclass
class OptimCfg:
    """AdamW with cosine decay after a linear warm-up; optional layer-wise LR decay."""

    lr: float = 5e-4
    lr_scale_batch: int = 0  # when > 0: effective lr = lr * global_batch / lr_scale_batch
    min_lr: float = 1e-6
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup_epochs: float = 5.0
    layer_decay: float = 1.0  # 1.0 = off
    head_lr_scale: float = 1.0


@dataclass
class DistillCfg:
    """Knowledge distillation from a frozen teacher (``mmlookup.engine.distill``); off while ``teacher`` is empty.

    The loss is ``(1 - alpha) * CE(labels) + alpha * KD`` per student head; ``kind`` picks KD: ``soft`` (KL at
    temperature ``tau``, times tau², Hinton), ``hard`` (CE on the teacher's argmax, DeiT), ``feature`` (MSE between a
    learned projection of the student's pooled features and the teacher's). ``cache`` keeps the teacher's top
    ``cache_topk`` logits per (clip, augmentation) in memory; ``cache_views`` > 0 makes the augmentation repeat
    every that many epochs so later epochs hit the cache (the teacher is skipped).
    """

    teacher: str = ""  # a run, checkpoint folder, model folder, Hugging Face folder or state-dict file
    teacher_encoder: str = ""  # the teacher's encoder when the reference does not name one (state-dict files)
    kind: str = "soft"  # soft | hard | feature
    alpha: float = 0.5
    tau: float = 1.0
    cache: bool = False
    cache_topk: int = 10
    cache_views: int = 0  # > 0: augmentation seeds cycle over this many epochs (needed for cache hits)


@dataclass
class TrainCfg:
    """The loop: batch, length, precision, regularisation, checkpoints and logging."""

    epochs: int = 30
    batch_size: int = 8  # per process
    accum_steps: int = 1
    max_steps: int = 0  # > 0 stops early (smoke runs); the schedule still spans ``epochs``
    num_workers: int = 4
    seed: int = 0
    precision: str = "bf16"  # no | bf16 | fp16; forced to "no" on CPU
    clip_grad: float = 0.0  # 0 = off
    label_smoothing: float = 0.1
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    mixup_prob: float = 1.0
    ema_decay: float = 0.0  # 0 = no EMA
    keep_rate_warmup_epochs: float = 0.0  # EViT: keep rate 1 for these epochs ...
    keep_rate_ramp_epochs: float = 0.0  # ... then cosine to model.keep_rate over these
    output_dir: str = "runs/default"
    checkpoint_every: int = 1  # epochs
    checkpoint_every_steps: int = 0  # also every N optimizer steps (0 = off)
    checkpoint_every_minutes: float = 30.0  # also every N minutes of training (0 = off): bounds what a kill -9 loses
    keep_last: int = 2
    eval_every: int = 1  # epochs; 0 = only at the end
    log_every: int = 10  # optimizer steps
    tensorboard: bool = True
    compile: bool = False  # torch.compile the model (see README "torch.compile" for where it pays)


@dataclass
class EvalCfg:
    """Test protocol: views (clips x crops), batch, which weights."""

    num_clips: int = 1
    num_crops: int = 1
    batch_size: int = 8
    use_ema: bool = False
    num_workers: int = 4
    # robustness protocol of `mmlookup eval` on an ImageNet run (mmlookup.engine.robustness); "" = plain accuracy
    robustness: str = ""  # "" | imagenet_c | imagenet_r | imagenet_a | imagenet_o
    in_distribution: str = ""  # imagenet_o: in-distribution image set (ImageNet val, flat or class folders)


@dataclass
class Recipe:
    """A complete, flat run description. ``task`` picks the trainer: ``classify`` or ``caption``."""

    name: str = "recipe"
    task: str = "classify"
    num_classes: int = 0  # 0 = from the dataset
    model: ModelCfg = field(default_factory=ModelCfg)
    data: DataCfg = field(default_factory=DataCfg)
    optim: OptimCfg = field(default_factory=OptimCfg)
    train: TrainCfg = field(default_factory=TrainCfg)
    eval: EvalCfg = field(default_factory=EvalCfg)
    caption: CaptionCfg = field(default_factory=CaptionCfg)
    distill: DistillCfg = field(default_factory=DistillCfg)

    def validate(self) -> "Recipe":
        """Raise ``ValueError`` on inconsistent values; return ``self``."""
        _choice("task", self.task, ("classify", "caption"))
        _choice("train.precision", self.train.precision, ("no", "bf16", "fp16"))
        _choice("data.format", self.data.format, ("k400", "ssv2", "list", "folder", "imagenet", "auto"))
        _choice("eval.robustness", self.eval.robustness, ("", "imagenet_c", "imagenet_r", "imagenet_a", "imagenet_o"))
        _choice("data.sampling", self.data.sampling, ("dense", "segment"))
        for g in self.model.grids:
            if len(g) != 3 or min(g) < 1:
                raise ValueError(f"model.grids entries must be 3 positive ints (t_p, h_p, w_p), got {g}")
        for key, v in (("train.batch_size", self.train.batch_size), ("train.accum_steps", self.train.accum_steps),
                       ("train.epochs", self.train.epochs), ("eval.num_clips", self.eval.num_clips),
                       ("eval.num_crops", self.eval.num_crops), ("eval.batch_size", self.eval.batch_size)):
            if v < 1:
                raise ValueError(f"{key} must be >= 1, got {v}")
        self.caption.validate()
        _choice("model.pool", self.model.pool, ("auto", "cls", "mean", "shared"))
        if self.model.keep_rate is not None and not 0.0 < self.model.keep_rate <= 1.0:
            raise ValueError(f"model.keep_rate must be in (0, 1], got {self.model.keep_rate}")
        self._validate_distill()
        return self

    def _validate_distill(self) -> None:
        d = self.distill
        _choice("distill.kind", d.kind, ("soft", "hard", "feature"))
        if d.teacher and self.task != "classify":
            raise ValueError("distill.teacher is for classification recipes (the captioner trains a decoder on a "
                             "frozen encoder)")
        if not 0.0 <= d.alpha <= 1.0:
            raise ValueError(f"distill.alpha must be in [0, 1], got {d.alpha}")
        if d.tau <= 0:
            raise ValueError(f"distill.tau must be > 0, got {d.tau}")
        if d.cache_topk < 1 or d.cache_views < 0:
            raise ValueError(f"distill.cache_topk must be >= 1 and distill.cache_views >= 0, got {d.cache_topk}, "
                             f"{d.cache_views}")
        if self.model.init_from == "teacher" and not d.teacher:
            raise ValueError("model.init_from='teacher' needs distill.teacher (a run, model folder or checkpoint)")
        if self.model.init_from and self.model.pretrained:
            raise ValueError("set one of model.init_from and model.pretrained, not both (both give initial weights)")
        if d.teacher and d.cache:
            if d.kind == "feature":
                raise ValueError("distill.cache stores logits; it does not work with distill.kind='feature'")
            if self.train.mixup_alpha > 0 or self.train.cutmix_alpha > 0 or self.data.num_sample > 1:
                raise ValueError("distill.cache needs one clip per video and no mixup/cutmix (the clip must be a "
                                 "function of the video and its augmentation seed)")


def _choice(key: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ValueError(f"{key}={value!r} is not valid; choose one of {', '.join(valid)}")


# ----------------------------------------------------------------------------------------------- loading


def load_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Load a recipe file (``x.py`` or ``x.py:arg`` or a resolved ``recipe.yaml``) and apply overrides.

    Args:
        path: recipe path, absolute, relative to cwd, or relative to the repository's ``recipes/``
            (``synthetic/lookupvit`` and ``synthetic/lookupvit.py`` both work).
        overrides: ``section.field=value`` strings, applied in order.

    Returns:
        The validated recipe.
    """
    text = str(path)
    file_part, _, arg = text.partition(":") if not Path(text).exists() else (text, "", "")
    file = _resolve_recipe_path(file_part)
    if file.suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(file.read_text())
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{file}:{mark.line + 1}" if mark is not None else str(file)
            raise ValueError(f"{where}: not a valid YAML recipe ({getattr(e, 'problem', None) or e})") from None
        if not isinstance(data, (dict, type(None))):
            raise ValueError(f"{file}: a YAML recipe must be a mapping of sections, got {type(data).__name__}")
        recipe = recipe_from_dict(data or {})
    else:
        spec = importlib.util.spec_from_file_location(f"mmlookup_recipe_{file.stem}", file)
        if spec is None or spec.loader is None:
            raise ValueError(f"cannot import recipe file {file}")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
            if not hasattr(module, "get_recipe"):
                raise ValueError(f"recipe file {file} defines no get_recipe(arg: str = '') -> Recipe")
            recipe = module.get_recipe(arg)
        except SyntaxError as e:
            raise ValueError(f"{e.filename or file}:{e.lineno}: syntax error in recipe: {e.msg}") from None
        except (NameError, AttributeError, ImportError, TypeError) as e:
            raise ValueError(f"{_error_line(e, file)}: error in recipe: {type(e).__name__}: {e}") from None
        if not isinstance(recipe, Recipe):
            raise TypeError(f"{file}: get_recipe returned {type(recipe).__name__}, expected Recipe")
    return synthetic_stays_in_place(recipe, apply_overrides(recipe, overrides), overrides).validate()


#: Where a synthetic recipe's data is. ``data.synthetic`` writes the set at the place the recipe file names.
SYNTHETIC_LOCATION_KEYS = ("data.root", "caption.train_annotations", "caption.media_root")


def synthetic_stays_in_place(written: Recipe, final: Recipe, overrides: list[str] | tuple[str, ...]) -> Recipe:
    """``final`` (``written`` after ``overrides``) with ``data.synthetic`` off when an override moved the data
    (:data:`SYNTHETIC_LOCATION_KEYS`) and none set ``data.synthetic`` itself: a moved root is the user's data, and
    the generator never writes a whole synthetic set into its parent folder (``mmlookup data synth DIR`` or
    ``--set data.synthetic=True`` with the new root asks for one there)."""
    if not final.data.synthetic or any(o.partition("=")[0].strip() == "data.synthetic" for o in overrides):
        return final
    before, after = _flatten(recipe_to_dict(written)), _flatten(recipe_to_dict(final))
    if any(before.get(key) != after.get(key) for key in SYNTHETIC_LOCATION_KEYS):
        final.data.synthetic = False
    return final


def _error_line(error: BaseException, file: Path) -> str:
    """``file:line`` of the innermost traceback frame inside ``file`` (where a recipe went wrong)."""
    import traceback

    frames = [f for f in traceback.extract_tb(error.__traceback__) if Path(f.filename).resolve() == file.resolve()]
    return f"{file}:{frames[-1].lineno}" if frames else str(file)


def _is_path(name: str) -> bool:
    """A recipe argument that names a file (``./x.py``, ``dir/x.py``, ``/abs/x.py``, ``run/recipe.yaml``), as
    opposed to a recipe name (``synthetic/lookupvit``), which the packaged recipes answer first."""
    return (name.startswith(("./", "../", "/")) or name.endswith((".yaml", ".yml"))
            or ("/" in name and name.endswith(".py")))


_SHADOW_NOTES: set[str] = set()


def _note_shadowing(name: str, used: Path, local: list[Path], packaged: list[Path]) -> None:
    """Say on stderr (once per process) which file ``name`` came from when a local file and a packaged recipe
    share it: ``synthetic/lookupvit.py`` runs ``./synthetic/lookupvit.py``, ``synthetic/lookupvit`` the packaged."""
    others = {p.resolve() for p in local + packaged} - {used.resolve()}
    if not (local and packaged and others):
        return
    if used in packaged:
        note = (f"recipe {name}: the packaged recipe {used.resolve()}; a local file {local[0]} has the same name "
                f"(run it as ./{local[0]})")
    else:
        note = (f"recipe {name}: the local file {used.resolve()}, not the packaged recipe of that name "
                f"(run that as {name.removeprefix('recipes/').removesuffix('.py')})")
    if note not in _SHADOW_NOTES:
        _SHADOW_NOTES.add(note)
        print(note, file=sys.stderr)


def _resolve_recipe_path(name: str) -> Path:
    """The recipe file for ``name``: a path (:func:`_is_path`) is a file (relative to the current folder, or
    ``recipes/...`` inside the package); a name is a packaged recipe first, so a local file of the same name never
    replaces it silently, and a local file only when no packaged recipe has that name."""
    inside = name.removeprefix("recipes/")  # `recipes/k400/x.py` also works outside a checkout (installed package)
    local = [Path(name)] + ([] if name.endswith((".py", ".yaml", ".yml")) else [Path(name + ".py")])
    packaged = [RECIPES_DIR / inside] + ([] if inside.endswith(".py") else [RECIPES_DIR / (inside + ".py")])
    candidates = local + packaged if _is_path(name) else packaged + local
    found = [c for c in candidates if c.is_file()]
    if found:
        _note_shadowing(name, found[0], [c for c in local if c.is_file()], [c for c in packaged if c.is_file()])
        return found[0]
    raise FileNotFoundError(f"recipe {name!r} not found (looked in . and {RECIPES_DIR}); "
                            f"see `mmlookup list` for the available recipes")


#: Recipe keys that hold paths relative to the current folder (``data.*_annotations`` and ``data.labels_file``
#: are relative to ``data.root`` and follow it). :func:`resolve_paths` makes them absolute against one base.
CWD_PATH_KEYS = ("data.root", "model.pretrained", "train.output_dir", "eval.in_distribution",
                 "caption.train_annotations", "caption.val_annotations", "caption.media_root", "caption.cache_dir",
                 "caption.encoder_checkpoint", "caption.tokenizer")

#: Keys that only say where a run's data, annotations, output and caches are: a resumed run may move them.
#: (Where weights or a tokenizer come from, ``model.pretrained``, ``caption.encoder_checkpoint`` and
#: ``caption.tokenizer``, says which model is trained, so a resume compares them.)
PATH_KEYS = frozenset({"data.root", "data.train_annotations", "data.val_annotations", "data.labels_file",
                       "train.output_dir", "eval.in_distribution", "caption.train_annotations",
                       "caption.val_annotations", "caption.media_root", "caption.cache_dir"})


def resolve_paths(recipe: Recipe, base: str | Path) -> Recipe:
    """A copy of ``recipe`` whose relative :data:`CWD_PATH_KEYS` are absolute against ``base``: what a caller
    does before it changes folder (``tools/gpu_check.sh``), so the recipe reads the same files from anywhere."""
    recipe = _deepcopy(recipe)
    for key in CWD_PATH_KEYS:
        section, name = key.split(".")
        value = getattr(getattr(recipe, section), name)
        if value and not Path(value).is_absolute():
            setattr(getattr(recipe, section), name, str(Path(base).resolve() / value))
    return recipe


#: Keys a resumed run may change without ``--allow-recipe-change``: every path of :data:`PATH_KEYS` (data root,
#: annotation and label files, output and cache folders), ``data.synthetic`` (whether the synthetic set is written
#: there), loader workers, logging, checkpoint frequency, evaluation batch and ``train.max_steps`` (an early stop;
#: the schedule spans ``train.epochs``). Everything else changes what is computed, so a resume with a different
#: value would not continue the same run.
RESUME_FREE_KEYS = PATH_KEYS | frozenset({
    "data.synthetic",
    "train.num_workers", "train.max_steps", "train.log_every", "train.tensorboard",
    "train.checkpoint_every", "train.checkpoint_every_steps", "train.checkpoint_every_minutes", "train.keep_last",
    "train.eval_every", "eval.num_workers", "eval.batch_size",
})


def recipe_diff(old: Recipe, new: Recipe, ignore: frozenset[str] = frozenset()) -> list[str]:
    """``key: old -> new`` for every dotted key whose value differs (keys in ``ignore`` left out)."""
    a, b = _flatten(recipe_to_dict(old)), _flatten(recipe_to_dict(new))
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(a.keys() | b.keys())
            if k not in ignore and a.get(k) != b.get(k)]


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and k != "encoder_kwargs":
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def list_recipes() -> list[str]:
    """Recipe files under ``recipes/`` as ``dataset/name`` strings."""
    if not RECIPES_DIR.is_dir():
        return []
    return sorted(str(p.relative_to(RECIPES_DIR).with_suffix(""))
                  for p in RECIPES_DIR.rglob("*.py") if not p.name.startswith("_"))


def apply_overrides(recipe: Recipe, overrides: list[str] | tuple[str, ...]) -> Recipe:
    """Return a copy of ``recipe`` with each ``a.b=value`` override applied, type-checked."""
    recipe = _deepcopy(recipe)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} is not of the form key=value (e.g. optim.lr=3e-4)")
        set_by_path(recipe, key.strip(), raw.strip())
    return recipe


def derive(base: Recipe, changes: dict[str, Any]) -> Recipe:
    """A copy of ``base`` with dotted ``changes`` (``{"model.encoder": "evit_base"}``) applied and type-checked.

    Recipe files use it to state only what differs from a sibling recipe, so shared hyper-parameters live in one
    file (e.g. ``recipes/k400/evit_b16_16x4.py`` is the ViT-B recipe with EViT's encoder and keep-rate schedule).
    """
    recipe = _deepcopy(base)
    for key, value in changes.items():
        set_by_path(recipe, key, value)
    return recipe


def sibling_recipe(file: str | Path, name: str, arg: str = "") -> Recipe:
    """Load recipe ``name``, relative to the folder of recipe ``file`` (``"vit_b16_16x4.py"``,
    ``"../k400/vit_b16_16x4.py"``), called with ``arg``."""
    path = (Path(file).resolve().parent / name).resolve()
    return load_recipe(f"{path}:{arg}" if arg else path)


def set_by_path(obj: Any, key: str, raw: str | Any) -> None:
    """Set dotted ``key`` on nested dataclasses; strings are parsed and checked against the annotation."""
    parts = key.split(".")
    for i, part in enumerate(parts):
        if isinstance(obj, dict):  # free-form dicts (model.encoder_kwargs): any key, literal value
            if i != len(parts) - 1:
                obj = obj.setdefault(part, {})
                continue
            obj[part] = _literal(raw) if isinstance(raw, str) else raw
            return
        hints = typing.get_type_hints(type(obj))
        names = [f.name for f in dataclasses.fields(obj)]
        if part not in names:
            prefix = ".".join(parts[:i])
            valid = ", ".join(f"{prefix + '.' if prefix else ''}{n}" for n in names)
            raise KeyError(f"unknown recipe key {key!r}; valid keys{' under ' + prefix if prefix else ''}: {valid}")
        if i == len(parts) - 1:
            value = parse_value(raw, hints[part], key) if isinstance(raw, str) else check_type(raw, hints[part], key)
            setattr(obj, part, value)
            return
        obj = getattr(obj, part)
        if not (dataclasses.is_dataclass(obj) or isinstance(obj, dict)):
            raise KeyError(f"recipe key {'.'.join(parts[:i + 1])!r} is a value, not a section; cannot set {key!r}")


def _literal(raw: str) -> Any:
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw


def parse_value(raw: str, tp: Any, key: str) -> Any:
    """Parse a command-line string into type ``tp`` or raise ``TypeError`` naming ``key``."""
    if tp is str or (typing.get_origin(tp) is typing.Literal and raw in typing.get_args(tp)):
        return raw
    if tp is bool:
        low = raw.lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise TypeError(f"{key}: expected a bool (true/false), got {raw!r}")
    value = _literal(raw)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and str in typing.get_args(tp):
        try:
            return check_type(value, tp, key)
        except TypeError:
            return raw  # e.g. a path that looks like a number
    return check_type(value, tp, key)


def check_type(value: Any, tp: Any, key: str) -> Any:
    """Check (and lightly coerce: int→float, list→tuple) ``value`` against annotation ``tp``."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp in (str, bool):
        if type(value) is tp:
            return value
    elif origin is tuple:
        args = typing.get_args(tp)
        if isinstance(value, (list, tuple)):
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(check_type(v, args[0], key) for v in value)
            if len(value) == len(args):
                return tuple(check_type(v, a, key) for v, a in zip(value, args))
    elif origin is typing.Literal:
        if value in typing.get_args(tp):
            return value
        raise TypeError(f"{key}: {value!r} is not one of {', '.join(map(repr, typing.get_args(tp)))}")
    elif origin is list:
        if isinstance(value, (list, tuple)):
            (arg,) = typing.get_args(tp) or (Any,)
            return [check_type(v, arg, key) for v in value]
    elif origin is dict:
        if isinstance(value, dict):
            return dict(value)
    elif origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if type(None) in args and value is None:
            return None
        for a in args:
            try:
                return check_type(value, a, key)
            except TypeError:
                pass
    elif dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
    raise TypeError(f"{key}: expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) if typing.get_origin(tp) is None else str(tp).replace("typing.", "")


def recipe_from_dict(data: dict[str, Any]) -> Recipe:
    """Build a ``Recipe`` from nested plain data (as written by :func:`recipe_to_dict`), type-checked.

    A record written before ``model.pool`` existed gets ``pool="mean"``: its classifier was trained on the mean of
    the patch tokens, so its checkpoints are evaluated as trained.
    """
    recipe = Recipe()
    if isinstance(data.get("model"), dict) and "pool" not in data["model"]:
        recipe.model.pool = "mean"
    for k, v in data.items():
        current = getattr(recipe, k, None)
        if dataclasses.is_dataclass(current) and isinstance(v, dict):
            for kk, vv in v.items():
                set_by_path(recipe, f"{k}.{kk}", vv)
        else:
            set_by_path(recipe, k, v)
    return recipe


def recipe_to_dict(recipe: Recipe) -> dict[str, Any]:
    """Plain nested data (tuples as lists) suitable for YAML/JSON."""
    return _plain(dataclasses.asdict(recipe))


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def save_recipe(recipe: Recipe, path: str | Path) -> Path:
    """Write the resolved recipe as YAML (loadable by :func:`load_recipe`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(recipe_to_dict(recipe), sort_keys=False))
    return path


def _deepcopy(recipe: Recipe) -> Recipe:
    import copy

    return copy.deepcopy(recipe)


def valid_keys(obj: Any = None, prefix: str = "") -> list[str]:
    """Every dotted key of a recipe (for help texts and error messages)."""
    obj = Recipe() if obj is None else obj
    keys: list[str] = []
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        name = f"{prefix}{f.name}"
        keys += valid_keys(v, name + ".") if dataclasses.is_dataclass(v) else [name]
    return keys
