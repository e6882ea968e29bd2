"""Captioner: a frozen video/image encoder whose tokens are the memory of a GPT-2 decoder with cross-attention.

The encoder never trains: its parameters have ``requires_grad=False`` and it stays in ``eval()`` even when
the captioner's ``train()`` is called. Its output is reduced to the decoder *memory*:
``compressed`` (LookupViT's M compressed tokens, the default), ``lookup`` (the final token set, with its
padding mask), ``both``, or ``reduced`` (the final token set of EViT / ATS / ToMe with its padding mask,
optionally reduced to ``memory_tokens`` tokens, see :mod:`mmlookup.captioning.reduce`).
An optional linear adapter maps the encoder width to the decoder width. The
decoder is a Hugging Face ``GPT2LMHeadModel`` built from a config, so ``generate()`` gives greedy and beam
search with ``encoder_hidden_states`` and ``encoder_attention_mask``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel

from mmlookup.captioning.config import MEMORY_CHOICES, CaptionCfg
from mmlookup.checkpoints import read_state_dict
from mmlookup.encoders.base import EncoderOutput


@dataclass
class Memory:
    """Decoder memory: ``hidden (B, K, D_enc)`` and ``mask (B, K)`` bool (True = real token) or ``None``."""

    hidden: torch.Tensor
    mask: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> Memory:
        return Memory(self.hidden.to(device), None if self.mask is None else self.mask.to(device))

    def __getitem__(self, index: slice | torch.Tensor) -> Memory:
        return Memory(self.hidden[index], None if self.mask is None else self.mask[index])


def select_memory(out: EncoderOutput, memory: str) -> Memory:
    """Pick the decoder memory from an encoder output.

    Args:
        out: the encoder's output.
        memory: ``"compressed"``, ``"lookup"``, ``"both"`` (compressed first, then lookup tokens) or
            ``"reduced"`` (the final token set of a token-reducing encoder, same as ``lookup`` but refused for
            LookupViT, whose final set is all N lookup tokens).

    Returns:
        The memory tokens and their mask (``None`` when every token is real).
    """
    if memory not in MEMORY_CHOICES:
        raise ValueError(f"memory={memory!r}; valid: {', '.join(MEMORY_CHOICES)}")
    if memory == "reduced":
        if out.compressed is not None:
            raise ValueError("memory='reduced' is the final token set of EViT / ATS / ToMe; LookupViT's reduced set is "
                             "its compressed tokens: use caption.memory='compressed'")
        return Memory(out.tokens, out.mask)
    if memory != "lookup" and out.compressed is None:
        raise ValueError(
            f"memory={memory!r} needs an encoder with compressed tokens (LookupViT); this encoder has none, "
            "use caption.memory='lookup'"
        )
    if memory == "compressed":
        return Memory(out.compressed)  # type: ignore[arg-type]
    if memory == "lookup":
        return Memory(out.tokens, out.mask)
    comp = out.compressed
    assert comp is not None
    hidden = torch.cat([comp, out.tokens], dim=1)
    if out.mask is None:
        return Memory(hidden)
    ones = torch.ones(comp.shape[:2], dtype=torch.bool, device=comp.device)
    return Memory(hidden, torch.cat([ones, out.mask.bool()], dim=1))


def build_decoder(cfg: CaptionCfg, vocab_size: int, bos_id: int, eos_id: int, pad_id: int) -> GPT2LMHeadModel:
    """A GPT-2 decoder with cross-attention, randomly initialised from a config (no download)."""
    config = GPT2Config(
        vocab_size=vocab_size,
        n_embd=cfg.decoder_width,
        n_layer=cfg.decoder_layers,
        n_head=cfg.decoder_heads,
        n_positions=max(cfg.max_caption_tokens, cfg.max_length + 1),
        add_cross_attention=True,
        resid_pdrop=cfg.decoder_dropout,
        embd_pdrop=cfg.decoder_dropout,
        attn_pdrop=cfg.decoder_dropout,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        decoder_start_token_id=bos_id,
        tie_word_embeddings=True,
    )
    return GPT2LMHeadModel(config)


class CaptionModel(nn.Module):
    """Frozen encoder + memory adapter + GPT-2 decoder.

    Args:
        encoder: any mmlookup encoder (``forward(video, grid=None) -> EncoderOutput``, ``embed_dim``).
        decoder: a ``GPT2LMHeadModel`` with ``add_cross_attention=True``.
        memory: which encoder tokens the decoder sees (see :func:`select_memory`).
        adapter: add a linear encoder-to-decoder projection (forced when the widths differ).
        grid: compressed grid passed to the encoder (``None`` = its default).
        suppress_ids: extra token ids never generated (e.g. ``[UNK]``); padding and BOS always are.
        memory_tokens: with ``memory="reduced"``, the size the encoder's final token set is reduced to
            (``0``: the encoder's own settings).
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: GPT2LMHeadModel,
        memory: str = "compressed",
        adapter: bool = True,
        grid: tuple[int, int, int] | None = None,
        suppress_ids: tuple[int, ...] = (),
        memory_tokens: int = 0,
    ) -> None:
        super().__init__()
        if memory not in MEMORY_CHOICES:
            raise ValueError(f"memory={memory!r}; valid: {', '.join(MEMORY_CHOICES)}")
        if not decoder.config.add_cross_attention:
            raise ValueError("the decoder needs add_cross_attention=True")
        self.encoder = encoder
        self.decoder = decoder
        self.memory = memory
        self.grid = grid
        self.suppress_ids = tuple(suppress_ids)
        if memory_tokens and memory != "reduced":
            raise ValueError("memory_tokens needs memory='reduced'")
        self.memory_tokens = int(memory_tokens)
        self._reduced_for: int | None = None  # patch-token count the encoder's reduction was last set for
        enc_dim, dec_dim = int(encoder.embed_dim), int(decoder.config.n_embd)
        self.adapter: nn.Module = nn.Linear(enc_dim, dec_dim) if adapter or enc_dim != dec_dim else nn.Identity()
        self.freeze_encoder()

    def freeze_encoder(self) -> None:
        """``requires_grad_(False)`` and ``eval()`` on the encoder."""
        self.encoder.requires_grad_(False)
        self.encoder.eval()

    def train(self, mode: bool = True) -> CaptionModel:
        super().train(mode)
        self.encoder.eval()  # frozen: dropout/drop-path off, always
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    @torch.no_grad()
    def encode(self, video: torch.Tensor) -> Memory:
        """Run the frozen encoder on ``(B, C, T, H, W)`` and return the raw memory (encoder width)."""
        self.encoder.eval()
        if self.memory_tokens:
            self._set_reduction(video)
        return select_memory(self.encoder(video, grid=self.grid), self.memory)

    def _set_reduction(self, video: torch.Tensor) -> None:
        from mmlookup.captioning.reduce import set_final_tokens

        t, h, w = self.encoder.patch_embed.grid_for(*video.shape[2:])
        if self._reduced_for != t * h * w:
            set_final_tokens(self.encoder, t * h * w, self.memory_tokens)
            self._reduced_for = t * h * w

    def _cross_inputs(self, memory: Memory) -> tuple[torch.Tensor, torch.Tensor | None]:
        hidden = self.adapter(memory.hidden.to(self.adapter_dtype))
        mask = None if memory.mask is None else memory.mask.long()
        return hidden, mask

    @property
    def adapter_dtype(self) -> torch.dtype:
        return self.decoder.transformer.wte.weight.dtype

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        memory: Memory,
        label_smoothing: float = 0.0,
    ) -> torch.Tensor:
        """Teacher-forced caption loss (mean over real target tokens).

        Args:
            input_ids: ``(B, L)`` ``[BOS] words [EOS] [PAD]...``.
            attention_mask: ``(B, L)`` 1 for real tokens.
            memory: the memory of each caption's image (already repeated per caption).
            label_smoothing: cross-entropy label smoothing.
        """
        hidden, mask = self._cross_inputs(memory)
        logits = self.decoder(
            input_ids=input_ids, attention_mask=attention_mask, encoder_hidden_states=hidden,
            encoder_attention_mask=mask, use_cache=False,
        ).logits
        targets = input_ids[:, 1:].masked_fill(attention_mask[:, 1:] == 0, -100)
        return F.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]).float(), targets.reshape(-1),
            ignore_index=-100, label_smoothing=label_smoothing,
        )

    @torch.no_grad()
    def generate(self, memory: Memory, num_beams: int = 3, max_length: int = 20, min_length: int = 1
                 ) -> torch.Tensor:
        """Greedy (``num_beams=1``) or beam-search token ids ``(B, <= max_length + 1)`` starting with BOS.

        Args:
            memory: the images' memory.
            num_beams: beam width; 1 is greedy.
            max_length: most tokens generated after BOS (EOS included).
            min_length: EOS is forbidden before this many tokens (1: never an empty caption).

        Padding, BOS and the ``suppress_ids`` (``[UNK]``) are never generated.
        """
        hidden, mask = self._cross_inputs(memory)
        cfg = self.decoder.config
        start = torch.full((hidden.shape[0], 1), cfg.bos_token_id, dtype=torch.long, device=hidden.device)
        suppress = sorted({cfg.pad_token_id, cfg.bos_token_id, *self.suppress_ids})
        return self.decoder.generate(
            input_ids=start,
            attention_mask=torch.ones_like(start),
            encoder_hidden_states=hidden,
            encoder_attention_mask=mask,
            num_beams=num_beams,
            max_new_tokens=max_length,
            min_new_tokens=min_length,
            do_sample=False,
            early_stopping=True if num_beams > 1 else False,
            eos_token_id=cfg.eos_token_id,
            pad_token_id=cfg.pad_token_id,
            suppress_tokens=suppress,
        )


def repeat_memory(memory: Memory, counts: torch.Tensor) -> Memory:
    """Repeat each image's memory ``counts[i]`` times (one per caption), so the encoder runs once per image."""
    device = memory.hidden.device
    idx = torch.repeat_interleave(torch.arange(len(counts), device=device), counts.to(device))
    return memory[idx]


def load_captioner_weights(model: CaptionModel, file: Path) -> None:
    """Load ``model.safetensors``; only the decoder's tied output weight may be absent (it shares the input one)."""
    if not file.is_file():
        raise FileNotFoundError(f"{file} not found")
    missing, unexpected = model.load_state_dict(read_state_dict(file)[0], strict=False)
    missing = [k for k in missing if k != "decoder.lm_head.weight"]
    if missing or unexpected:
        raise ValueError(f"{file} does not fit this captioner: missing {missing[:5]}, unexpected {unexpected[:5]}")
    model.decoder.tie_weights()
