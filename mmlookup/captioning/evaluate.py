"""Caption evaluation: beam-search every image once, gather across processes, score with pycocoevalcap."""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from tqdm.auto import tqdm

from mmlookup.captioning.tokenizer import decode
from mmlookup.data.coco import CaptionSample, references_of
from mmlookup.metrics.caption import CaptionScores, score_captions, write_results

if TYPE_CHECKING:
    from accelerate import Accelerator
    from torch.utils.data import DataLoader
    from transformers import PreTrainedTokenizerFast

    from mmlookup.captioning.model import CaptionModel


@dataclass
class CaptionReport:
    """Scores of one evaluation, with the trivial baseline for comparison.

    Attributes:
        scores: metric name to corpus score (pycocoevalcap names).
        baseline: the same metrics for the most frequent training caption given to every image.
        baseline_caption: that caption.
        num_images: images scored; ``skipped``: images whose media failed to load.
        num_beams, max_length: decoding settings.
        step: optimizer step of the weights; ``results_file``: the COCO results JSON; ``notes``: remarks.
        examples: a few ``(image_id, caption)`` pairs.
    """

    scores: dict[str, float]
    baseline: dict[str, float] = field(default_factory=dict)
    baseline_caption: str = ""
    num_images: int = 0
    skipped: int = 0
    num_beams: int = 1
    max_length: int = 20
    step: int = 0
    results_file: str = ""
    notes: list[str] = field(default_factory=list)
    examples: list[tuple[int, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        head = f"captions @ step {self.step}: {self.num_images} images, beam {self.num_beams}"
        out = [head + (f", {self.skipped} unreadable" if self.skipped else "")]
        for k, v in self.scores.items():
            base = f"   (baseline {self.baseline[k]:.4f})" if k in self.baseline else ""
            out.append(f"  {k:<8} {v:.4f}{base}")
        if self.baseline_caption:
            out.append(f"  baseline = most frequent training caption for every image: {self.baseline_caption!r}")
        out += [f"  e.g. {i}: {c}" for i, c in self.examples[:3]]
        out += [f"  note: {n}" for n in self.notes]
        return out

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2))
        return path


@torch.no_grad()
def generate_captions(model: CaptionModel, loader: DataLoader, tokenizer: PreTrainedTokenizerFast,
                      accelerator: Accelerator, *, num_beams: int, max_length: int, desc: str = "captioning"
                      ) -> tuple[list[tuple[int, str]], int]:
    """Caption every image of ``loader`` (prepared by ``accelerator``) once.

    Returns:
        ``(image_id, caption)`` pairs on every process (each image once, in loader order) and the number of
        images that failed to load.
    """
    net = accelerator.unwrap_model(model)
    net.eval()
    pad = tokenizer.pad_token_id
    all_ids: list[int] = []
    all_tokens: list[list[int]] = []
    skipped = 0
    for batch in tqdm(loader, desc=desc, disable=not accelerator.is_main_process, leave=False):
        skipped += batch.skipped
        if len(batch) == 0:
            ids = torch.zeros(0, dtype=torch.long, device=accelerator.device)
            out = torch.full((0, max_length + 1), pad, dtype=torch.long, device=accelerator.device)
        else:
            memory = batch.memory if batch.memory is not None else net.encode(batch.media)
            out = net.generate(memory, num_beams=num_beams, max_length=max_length)
            ids = batch.image_ids
        out = torch.nn.functional.pad(out, (0, max_length + 1 - out.shape[1]), value=pad)
        # Batches may differ in size across processes (unreadable media are dropped), so pad, gather all, and
        # drop padding and the distributed sampler's repeated images by id (not gather_for_metrics' count).
        ids = accelerator.pad_across_processes(ids, dim=0, pad_index=-1)
        out = accelerator.pad_across_processes(out, dim=0, pad_index=pad)
        ids, out = accelerator.gather((ids, out))
        keep = ids >= 0
        all_ids += ids[keep].tolist()
        all_tokens += out[keep].tolist()
    skipped = int(accelerator.reduce(torch.tensor(skipped, device=accelerator.device), reduction="sum").item())
    unique: dict[int, list[int]] = {}
    for i, tokens in zip(all_ids, all_tokens):
        unique.setdefault(i, tokens)
    return list(zip(unique, decode(tokenizer, list(unique.values())))), skipped


def most_frequent_caption(samples: Sequence[CaptionSample], tokenizer: PreTrainedTokenizerFast) -> str:
    """The most frequent training caption after the tokenizer's normalisation (the trivial baseline)."""
    norm = decode(tokenizer, tokenizer([c for s in samples for c in s.captions])["input_ids"])
    return Counter(norm).most_common(1)[0][0]


def score_report(results: Sequence[tuple[int, str]], eval_samples: Sequence[CaptionSample],
                 train_samples: Sequence[CaptionSample] | None, tokenizer: PreTrainedTokenizerFast,
                 *, meteor: bool = True) -> tuple[CaptionScores, dict[str, float], str]:
    """Scores of ``results`` and of the most-frequent-caption baseline (when ``train_samples`` are given)."""
    refs = references_of(eval_samples)
    hyps = {i: c for i, c in results}
    scores = score_captions(refs, hyps, meteor=meteor, spice=True)
    baseline: dict[str, float] = {}
    caption = ""
    if train_samples:
        caption = most_frequent_caption(train_samples, tokenizer)
        baseline = score_captions(refs, {i: caption for i in hyps}, meteor=meteor).as_dict()
    return scores, baseline, caption


def evaluate_captioner(model: CaptionModel, loader: DataLoader, tokenizer: PreTrainedTokenizerFast,
                       accelerator: Accelerator, eval_samples: Sequence[CaptionSample], *, num_beams: int,
                       max_length: int, results_file: str | Path | None = None,
                       train_samples: Sequence[CaptionSample] | None = None, step: int = 0,
                       meteor: bool = True) -> CaptionReport | None:
    """Generate, write the COCO results file and score (main process); other processes return ``None``."""
    results, skipped = generate_captions(model, loader, tokenizer, accelerator, num_beams=num_beams,
                                         max_length=max_length)
    if not accelerator.is_main_process:
        return None
    if not results:
        raise RuntimeError(f"no image could be captioned ({skipped} unreadable)")
    if results_file is not None:
        write_results(results_file, results)
    scores, baseline, caption = score_report(results, eval_samples, train_samples, tokenizer, meteor=meteor)
    return CaptionReport(scores=scores.as_dict(), baseline=baseline, baseline_caption=caption,
                         num_images=scores.num_images, skipped=skipped, num_beams=num_beams, max_length=max_length,
                         step=step, results_file=str(results_file or ""), notes=scores.notes,
                         examples=list(results[:5]))
