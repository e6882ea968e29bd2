"""The ``caption`` section of a recipe: everything the captioner needs beyond the generic sections.

The engine's :class:`mmlookup.config.Recipe` embeds one :class:`CaptionCfg` as ``recipe.caption``; every
field can be overridden from the command line (``--set caption.num_beams=5``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Memory = Literal["compressed", "lookup", "both", "reduced"]
DataFormat = Literal["coco", "karpathy", "msrvtt", "vatex"]

MEMORY_CHOICES: tuple[str, ...] = ("compressed", "lookup", "both", "reduced")
FORMAT_CHOICES: tuple[str, ...] = ("coco", "karpathy", "msrvtt", "vatex")
DECODER_CHOICES: tuple[str, ...] = ("gpt2",)


@dataclass
class CaptionCfg:
    """Frozen-encoder captioning settings.

    Attributes:
        memory: which encoder tokens the decoder cross-attends: ``"compressed"`` (LookupViT's M compressed
            tokens, the default), ``"lookup"`` (the final token set, with its mask when the encoder pads),
            ``"both"`` (concatenated) or ``"reduced"`` (the final reduced token set of a token-reducing encoder,
            EViT / ATS / ToMe, CLS included, with its padding mask as the decoder's ``encoder_attention_mask``).
        memory_tokens: with ``memory="reduced"``, set the encoder's reduction so the final set has this many
            tokens (ATS: at most), for comparisons at an equal memory size
            (:mod:`mmlookup.captioning.reduce`); ``0`` keeps the encoder's own settings.
        encoder_checkpoint: a classification run or checkpoint folder of this project for the frozen encoder
            (a run folder means its ``checkpoints/best``), loaded strictly. Imported weights (timm,
            torchvision, Hugging Face) go in ``model.pretrained`` instead. Neither: the encoder keeps its
            random initialisation (tests, smoke runs, the synthetic recipe).
        adapter: add a linear projection from the encoder width to the decoder width. It is added anyway
            when the widths differ.
        decoder: decoder family; ``"gpt2"`` (a GPT-2 config with cross-attention, built from scratch).
        decoder_width: decoder hidden size (``n_embd``).
        decoder_layers: decoder depth.
        decoder_heads: decoder attention heads.
        decoder_dropout: dropout inside the decoder (residual, embedding and attention).
        tokenizer: an existing tokenizer directory to load; ``None`` trains one from the training captions.
        vocab_min_freq: words seen fewer times than this in the training captions become ``[UNK]``.
        max_caption_tokens: training captions are truncated to this many tokens (BOS/EOS included).
        max_length: maximum number of generated tokens at evaluation and inference.
        num_beams: beam width at evaluation and inference (1 = greedy).
        format: annotation format: ``"coco"`` (``captions_*.json``), ``"karpathy"`` (``dataset_coco.json``),
            ``"msrvtt"`` (``*_videodatainfo.json``) or ``"vatex"`` (``vatex_*_v1.0.json``); see
            :mod:`mmlookup.data.video_captions` for the video sets.
        train_annotations: training annotation file (COCO format), the Karpathy ``dataset_coco.json``, MSR-VTT's
            ``train_val_videodatainfo.json`` or VATEX's training list.
        val_annotations: evaluation annotation file (COCO format, MSR-VTT's ``test_videodatainfo.json``, VATEX's
            validation list); unused for the Karpathy format, which takes both splits from
            ``train_annotations``; for MSR-VTT, empty means ``train_annotations`` (e.g. ``eval_split=validate``).
        media_root: folder that image/video ``file_name`` (COCO) or ``filepath/filename`` (Karpathy) are
            relative to; ``None`` = the annotation file's folder.
        train_splits: Karpathy (or MSR-VTT: ``train``, ``validate``) splits used for training.
        eval_split: Karpathy (or MSR-VTT: ``validate``, ``test``) split used for evaluation.
        max_eval_samples: evaluate on at most this many images (``0`` = all); CIDEr depends on the set.
        cache_dir: folder for an on-disk cache of frozen-encoder outputs (``None`` = no cache). Media always
            use the deterministic evaluation transform, so cached tokens equal live ones.

    Optimiser, schedule, epochs, batch size (in images; each brings all its captions) and the caption loss's
    label smoothing (``train.label_smoothing``) come from the recipe's generic sections.
    """

    memory: Memory = "compressed"
    memory_tokens: int = 0
    encoder_checkpoint: str | None = None
    adapter: bool = True
    decoder: str = "gpt2"
    decoder_width: int = 256
    decoder_layers: int = 3
    decoder_heads: int = 4
    decoder_dropout: float = 0.1
    tokenizer: str | None = None
    vocab_min_freq: int = 1
    max_caption_tokens: int = 24
    max_length: int = 20
    num_beams: int = 3
    format: DataFormat = "coco"
    train_annotations: str = ""
    val_annotations: str = ""
    media_root: str | None = None
    train_splits: list[str] = field(default_factory=lambda: ["train", "restval"])
    eval_split: str = "test"
    max_eval_samples: int = 0
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the valid choices when a field is out of range."""
        if self.memory not in MEMORY_CHOICES:
            raise ValueError(f"caption.memory={self.memory!r}; valid: {', '.join(MEMORY_CHOICES)}")
        if self.format not in FORMAT_CHOICES:
            raise ValueError(f"caption.format={self.format!r}; valid: {', '.join(FORMAT_CHOICES)}")
        if self.decoder not in DECODER_CHOICES:
            raise ValueError(f"caption.decoder={self.decoder!r}; valid: {', '.join(DECODER_CHOICES)}")
        if self.decoder_width % self.decoder_heads:
            raise ValueError(
                f"caption.decoder_width={self.decoder_width} is not divisible by decoder_heads={self.decoder_heads}"
            )
        for name in ("decoder_width", "decoder_layers", "decoder_heads", "max_caption_tokens", "max_length",
                     "num_beams", "vocab_min_freq"):
            if getattr(self, name) < 1:
                raise ValueError(f"caption.{name} must be >= 1, got {getattr(self, name)}")
        if self.memory_tokens and self.memory != "reduced":
            raise ValueError(f"caption.memory_tokens={self.memory_tokens} needs caption.memory='reduced' (LookupViT's "
                             "compressed memory is sized by model.grids)")
        if self.memory_tokens < 0:
            raise ValueError(f"caption.memory_tokens must be >= 0, got {self.memory_tokens}")
        if self.max_eval_samples < 0:
            raise ValueError(f"caption.max_eval_samples must be >= 0, got {self.max_eval_samples}")
