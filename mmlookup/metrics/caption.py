"""Caption metrics with pycocoevalcap: BLEU-1..4, METEOR, ROUGE-L, CIDEr(-D); SPICE only when it can run.

``COCOEvalCap.evaluate()`` builds every scorer first, and SPICE's constructor downloads Stanford CoreNLP
(~385 MB), so offline it fails before scoring anything. This module does the same pipeline by hand:
PTB-tokenize references and hypotheses with pycocoevalcap's Java tokenizer, then call each scorer's
``compute_score``. SPICE runs only when its CoreNLP jars are already in place; otherwise it is reported as
unavailable with the reason.

Order matters for exact reproduction: images are scored in the annotation file's image order (as
``coco.loadRes`` keeps it) and references in annotation order, which is what ``COCOEvalCap`` does.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

METRIC_NAMES: tuple[str, ...] = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr")
SPICE_UNAVAILABLE = (
    "SPICE unavailable offline: it needs the Stanford CoreNLP 3.6.0 jars (stanford-corenlp-3.6.0.jar and "
    "stanford-corenlp-3.6.0-models.jar, ~385 MB download) in {lib}; place them there to enable it"
)


@dataclass
class CaptionScores:
    """Corpus scores of one evaluation (pycocoevalcap names and scales: CIDEr is x10, range 0-10).

    Attributes:
        bleu: BLEU-1..4 (corpus level).
        meteor: METEOR 1.5 (aggregated statistics), ``None`` when skipped.
        rouge_l: ROUGE-L F (beta 1.2), mean over images.
        cider: CIDEr-D, mean over images; idf comes from the references of the evaluated images.
        spice: SPICE F-score, ``None`` when unavailable (see ``notes``).
        num_images: number of images scored.
        per_image: per-image scores keyed by metric name, in the order of ``image_ids``.
        image_ids: the scored image ids.
        notes: human-readable remarks (e.g. why SPICE is missing).
    """

    bleu: tuple[float, float, float, float]
    meteor: float | None
    rouge_l: float
    cider: float
    spice: float | None = None
    num_images: int = 0
    per_image: dict[str, list[float]] = field(default_factory=dict, repr=False)
    image_ids: list[Hashable] = field(default_factory=list, repr=False)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, float]:
        """Metric name (pycocoevalcap spelling) to corpus score; missing metrics are left out."""
        out = {f"Bleu_{i + 1}": float(b) for i, b in enumerate(self.bleu)}
        if self.meteor is not None:
            out["METEOR"] = float(self.meteor)
        out["ROUGE_L"] = float(self.rouge_l)
        out["CIDEr"] = float(self.cider)
        if self.spice is not None:
            out["SPICE"] = float(self.spice)
        return out

    def format(self) -> str:
        """One metric per line, then the notes."""
        lines = [f"{k:<8} {v:.6f}" for k, v in self.as_dict().items()]
        lines.append(f"images   {self.num_images}")
        lines += self.notes
        return "\n".join(lines)


def _package_dir() -> Path:
    import pycocoevalcap

    return Path(list(pycocoevalcap.__path__)[0])


def require_java() -> str:
    """Path of ``java``; a clear error when no JRE is installed (PTB tokenizer, METEOR and SPICE need one)."""
    java = shutil.which("java")
    if java is None:
        raise RuntimeError(
            "caption metrics need a Java runtime on PATH for pycocoevalcap's PTB tokenizer and METEOR "
            "(e.g. `apt-get install default-jre-headless`)"
        )
    return java


def _clean(caption: str) -> str:
    # Stray newlines shift the PTB tokenizer's line alignment and desync METEOR's pipe.
    return " ".join(caption.replace("|||", " ").split())


def ptb_tokenize(captions: Mapping[Hashable, Sequence[str]]) -> dict[Hashable, list[str]]:
    """PTB-tokenize captions with pycocoevalcap's tokenizer (lower-cased, punctuation tokens removed).

    Uses :class:`pycocoevalcap.tokenizer.ptbtokenizer.PTBTokenizer` when its folder is writable (it writes a
    temporary file next to its jar); otherwise runs the identical command with the temporary file elsewhere.

    Args:
        captions: id to a list of raw captions.

    Returns:
        id to the list of tokenized captions (space-separated words), same order.
    """
    require_java()
    from pycocoevalcap.tokenizer import ptbtokenizer as ptb

    data = {k: [{"caption": _clean(c)} for c in v] for k, v in captions.items()}
    jar_dir = Path(ptb.__file__).resolve().parent
    if os.access(jar_dir, os.W_OK):
        return ptb.PTBTokenizer().tokenize(data)
    ids = [k for k, v in data.items() for _ in v]
    text = "\n".join(c["caption"] for v in data.values() for c in v)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(text)
    try:
        cmd = ["java", "-cp", str(jar_dir / ptb.STANFORD_CORENLP_3_4_1_JAR), "edu.stanford.nlp.process.PTBTokenizer",
               "-preserveLines", "-lowerCase", f.name]
        lines = subprocess.run(cmd, stdout=subprocess.PIPE, check=True).stdout.decode().split("\n")
    finally:
        os.remove(f.name)
    out: dict[Hashable, list[str]] = {}
    for k, line in zip(ids, lines):
        out.setdefault(k, []).append(" ".join(w for w in line.rstrip().split(" ") if w not in ptb.PUNCTUATIONS))
    return out


@functools.lru_cache(maxsize=1)
def _meteor():  # noqa: ANN202 - pycocoevalcap type
    # One JVM per process: METEOR loads a 62 MB paraphrase table (~8 s) at start-up.
    from pycocoevalcap.meteor.meteor import Meteor

    require_java()
    return Meteor()


def spice_status() -> str | None:
    """``None`` when SPICE can run here, else the reason it cannot."""
    lib = _package_dir() / "spice" / "lib"
    needed = ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")
    if all((lib / n).exists() for n in needed):
        return None
    return SPICE_UNAVAILABLE.format(lib=lib)


def score_tokenized(
    refs: Mapping[Hashable, Sequence[str]],
    hyps: Mapping[Hashable, str | Sequence[str]],
    *,
    meteor: bool = True,
    spice: bool = False,
) -> CaptionScores:
    """Score already tokenized captions with pycocoevalcap's scorers (no tokenizer step).

    Args:
        refs: id to reference strings (space-separated tokens).
        hyps: id to one hypothesis string (or a one-element list); same ids as ``refs``.
        meteor: compute METEOR (starts a JVM once per process).
        spice: try SPICE; it is reported as unavailable unless its CoreNLP jars are present.

    Returns:
        The corpus and per-image scores.
    """
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    res = {k: [v] if isinstance(v, str) else list(v) for k, v in hyps.items()}
    gts = {k: list(refs[k]) for k in res if k in refs}
    missing = [k for k in res if k not in refs]
    if missing:
        raise ValueError(f"{len(missing)} hypothesis ids have no references, e.g. {missing[:5]}")
    if not res:
        raise ValueError("nothing to score: no hypotheses")
    bad = [k for k, v in res.items() if len(v) != 1]
    if bad:
        raise ValueError(f"each id needs exactly one hypothesis; ids {bad[:5]} have {len(res[bad[0]])}")
    empty = [k for k, v in gts.items() if not v]
    if empty:
        raise ValueError(f"ids {empty[:5]} have no reference captions")

    per_image: dict[str, list[float]] = {}
    bleu, bleu_per = Bleu(4).compute_score(gts, res, verbose=0)
    for i in range(4):
        per_image[f"Bleu_{i + 1}"] = [float(s) for s in bleu_per[i]]
    rouge, rouge_per = Rouge().compute_score(gts, res)
    per_image["ROUGE_L"] = [float(s) for s in rouge_per]
    cider, cider_per = Cider().compute_score(gts, res)
    per_image["CIDEr"] = [float(s) for s in cider_per]
    meteor_score: float | None = None
    if meteor:
        meteor_score, meteor_per = _meteor().compute_score(gts, res)
        per_image["METEOR"] = [float(s) for s in meteor_per]
    notes: list[str] = []
    spice_score: float | None = None
    if spice:
        reason = spice_status()
        if reason is None:
            from pycocoevalcap.spice.spice import Spice

            spice_score, spice_per = Spice().compute_score(gts, res)
            per_image["SPICE"] = [float(s["All"]["f"]) for s in spice_per]
        else:
            notes.append(reason)
    if len(res) == 1:
        notes.append("CIDEr is 0 for a single image (its idf comes from the evaluated set)")
    return CaptionScores(
        bleu=tuple(float(b) for b in bleu),  # type: ignore[arg-type]
        meteor=None if meteor_score is None else float(meteor_score),
        rouge_l=float(rouge),
        cider=float(cider),
        spice=None if spice_score is None else float(spice_score),
        num_images=len(res),
        per_image=per_image,
        image_ids=list(res),
        notes=notes,
    )


def score_captions(
    refs: Mapping[Hashable, Sequence[str]],
    hyps: Mapping[Hashable, str],
    *,
    meteor: bool = True,
    spice: bool = False,
) -> CaptionScores:
    """Score raw captions the way ``COCOEvalCap.evaluate()`` does: PTB-tokenize, then every scorer.

    Only the ids in ``hyps`` are scored, in ``hyps``' order; each must have references.

    Args:
        refs: id to raw reference captions.
        hyps: id to one raw generated caption.
        meteor: compute METEOR.
        spice: try SPICE (reported unavailable offline).

    Returns:
        The scores.
    """
    missing = [k for k in hyps if k not in refs]
    if missing:
        raise ValueError(f"{len(missing)} result ids are not in the references, e.g. {missing[:5]}")
    gts = ptb_tokenize({k: refs[k] for k in hyps})
    res = ptb_tokenize({k: [v] for k, v in hyps.items()})
    return score_tokenized(gts, {k: v[0] for k, v in res.items()}, meteor=meteor, spice=spice)


def load_results(path: str | Path) -> list[tuple[int, str]]:
    """Read a COCO results file ``[{"image_id", "caption"}, ...]``; one entry per image is required."""
    from mmlookup.data.coco import read_json

    data = read_json(path, "results file")
    if not isinstance(data, list):
        raise ValueError(f"{path}: a COCO results file is a JSON list of {{'image_id', 'caption'}} objects")
    out: list[tuple[int, str]] = []
    seen: set[int] = set()
    for i, r in enumerate(data):
        if not isinstance(r, dict) or "image_id" not in r or "caption" not in r:
            raise ValueError(f"{path}: entry {i} is not an object with 'image_id' and 'caption': {r!r}")
        if r["image_id"] in seen:
            raise ValueError(f"{path}: image_id {r['image_id']} appears twice; results need one caption per image")
        seen.add(r["image_id"])
        out.append((r["image_id"], str(r["caption"])))
    return out


def write_results(path: str | Path, captions: Sequence[tuple[int, str]]) -> Path:
    """Write ``(image_id, caption)`` pairs in the COCO results format and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        json.dump([{"image_id": i, "caption": c} for i, c in captions], f)
    return path


def evaluate_results_file(
    results: str | Path,
    annotations: str | Path,
    *,
    meteor: bool = True,
    spice: bool = False,
) -> CaptionScores:
    """Score a COCO results file against COCO-format references (``captions_*.json``), or against an MSR-VTT
    ``*_videodatainfo.json`` / VATEX list (ids as :mod:`mmlookup.data.video_captions` gives them).

    Like ``COCOEvalCap`` with ``params['image_id'] = cocoRes.getImgIds()``: only the result images are scored,
    in the annotation file's image order; every result id must exist in the annotations.
    """
    from mmlookup.data.coco import read_coco_references
    from mmlookup.data.video_captions import read_video_references

    refs, order = read_video_references(annotations) or read_coco_references(annotations)
    res = dict(load_results(results))
    unknown = [k for k in res if k not in refs]
    if unknown:
        raise ValueError(f"{len(unknown)} result image ids are not in {annotations}, e.g. {unknown[:5]}")
    hyps = {k: res[k] for k in order if k in res}
    return score_captions(refs, hyps, meteor=meteor, spice=spice)
