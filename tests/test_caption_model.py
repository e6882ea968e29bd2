"""Caption tokenizer and model: round trips, special tokens, a frozen encoder, exactly M memory tokens."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn as nn

from mmlookup.captioning.config import CaptionCfg
from mmlookup.captioning.model import CaptionModel, Memory, build_decoder, repeat_memory, select_memory
from mmlookup.captioning.tokenizer import decode, load_tokenizer, train_tokenizer
from mmlookup.encoders.base import EncoderOutput

CAPTIONS = [
    "A man's red T-shirt, on the beach.",
    "Two dogs don't play with a RED ball!",
    "a man on the beach",
    "Café: two dogs (brown) play; a ball.",
]


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(CAPTIONS, min_freq=1)


def test_tokenizer_special_tokens_and_round_trip(tok) -> None:
    assert (tok.pad_token_id, tok.unk_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2, 3)
    ids = tok(CAPTIONS[0])["input_ids"]
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    # lower-cased, punctuation gone, PTB-style clitics; decoding gives the normalised words back
    assert decode(tok, [ids]) == ["a man 's red t-shirt on the beach"]
    assert decode(tok, [tok(CAPTIONS[1])["input_ids"]]) == ["two dogs do n't play with a red ball"]
    assert decode(tok, [tok(CAPTIONS[3])["input_ids"]]) == ["cafe two dogs brown play a ball"]
    unk = tok("a zebra on the beach")["input_ids"]
    assert tok.unk_token_id in unk and decode(tok, [unk]) == ["a on the beach"]


def test_min_frequency_maps_rare_words_to_unk() -> None:
    tok = train_tokenizer(CAPTIONS, min_freq=2)
    vocab = tok.get_vocab()
    assert "man" in vocab and "beach" in vocab and "t-shirt" not in vocab


def test_saved_tokenizer_gives_identical_ids(tok, tmp_path: Path) -> None:
    tok.save_pretrained(str(tmp_path / "tk"))
    loaded = load_tokenizer(tmp_path / "tk")
    texts = CAPTIONS + ["an unseen sentence with Words"]
    assert loaded(texts)["input_ids"] == tok(texts)["input_ids"]
    a = loaded(texts, padding=True, truncation=True, max_length=6, return_tensors="pt")
    b = tok(texts, padding=True, truncation=True, max_length=6, return_tensors="pt")
    assert torch.equal(a["input_ids"], b["input_ids"])
    for row, mask in zip(a["input_ids"].tolist(), a["attention_mask"].tolist()):  # truncation keeps EOS
        assert row[0] == tok.bos_token_id and row[sum(mask) - 1] == tok.eos_token_id
    assert len(loaded) == len(tok) and loaded.pad_token_id == 0
    with pytest.raises(FileNotFoundError):
        load_tokenizer(tmp_path)


class StandIn(nn.Module):
    """A small encoder honouring the contract: ``lookup`` N tokens (optionally padded) and ``compressed`` M tokens."""

    def __init__(self, dim: int = 24, n: int = 12, m: int = 4, masked: bool = False, compressed: bool = True):
        super().__init__()
        self.embed_dim, self.n, self.m, self.masked, self.has_comp = dim, n, m, masked, compressed
        self.proj = nn.Linear(3, dim)
        self.drop = nn.Dropout(0.5)
        self.to_comp = nn.Linear(dim, dim)

    def forward(self, video: torch.Tensor, *, grid=None) -> EncoderOutput:
        b = video.shape[0]
        x = video.mean(dim=(2, 3, 4))[:, None, :].expand(b, self.n, 3)
        x = self.drop(self.proj(x) + torch.linspace(0, 1, self.n)[None, :, None])
        comp = self.to_comp(x[:, : self.m]) if self.has_comp else None
        mask = None
        if self.masked:
            mask = torch.ones(b, self.n, dtype=torch.bool)
            mask[0, -3:] = False
        return EncoderOutput(tokens=x, mask=mask, compressed=comp)


def _model(tok, memory: str = "compressed", **enc) -> CaptionModel:
    cfg = CaptionCfg(decoder_width=32, decoder_layers=2, decoder_heads=2, max_length=8, decoder_dropout=0.1)
    dec = build_decoder(cfg, len(tok), tok.bos_token_id, tok.eos_token_id, tok.pad_token_id)
    return CaptionModel(StandIn(**enc), dec, memory=memory, adapter=True)


def _cross_attention_sizes(model: CaptionModel) -> list[tuple[int, ...]]:
    sizes: list[tuple[int, ...]] = []

    def hook(_m, _args, kwargs):
        sizes.append(tuple(kwargs["encoder_hidden_states"].shape))
        mask = kwargs.get("encoder_attention_mask")
        sizes.append(tuple(mask.shape) if mask is not None else ())

    for block in model.decoder.transformer.h:
        block.crossattention.register_forward_pre_hook(hook, with_kwargs=True)
    return sizes


def _batch(tok, b: int = 3):
    caps = CAPTIONS[:b]
    enc = tok(caps, padding=True, return_tensors="pt")
    return torch.randn(b, 3, 1, 8, 8), enc["input_ids"], enc["attention_mask"]


def test_encoder_is_frozen_bit_identical_after_training_steps(tok) -> None:
    torch.manual_seed(0)
    model = _model(tok)
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    opt = torch.optim.AdamW(model.trainable_parameters(), lr=1e-2, weight_decay=0.1)
    assert all(not p.requires_grad for p in model.encoder.parameters())
    assert not any(p is q for p in model.trainable_parameters() for q in model.encoder.parameters())
    video, ids, attn = _batch(tok)
    model.train()
    assert model.training and not model.encoder.training and model.decoder.training
    losses = []
    for _ in range(5):
        loss = model(ids, attn, model.encode(video))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    after = model.encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    # eval mode means dropout off: the memory is deterministic even while the captioner trains
    assert torch.equal(model.encode(video).hidden, model.encode(video).hidden)


@pytest.mark.parametrize("memory,expected", [("compressed", 4), ("lookup", 12), ("both", 16)])
def test_cross_attention_sees_exactly_the_memory_tokens(tok, memory: str, expected: int) -> None:
    model = _model(tok, memory=memory, n=12, m=4).eval()
    sizes = _cross_attention_sizes(model)
    video, ids, attn = _batch(tok)
    model(ids, attn, model.encode(video))
    hidden_shapes = sizes[0::2]
    assert hidden_shapes and all(s == (3, expected, 32) for s in hidden_shapes)
    sizes.clear()
    model.generate(model.encode(video), num_beams=2, max_length=4)
    assert all(s[1] == expected for s in sizes[0::2])


def test_lookup_mask_reaches_cross_attention_and_hides_padding(tok) -> None:
    model = _model(tok, memory="lookup", masked=True).eval()
    sizes = _cross_attention_sizes(model)
    video, ids, attn = _batch(tok)
    mem = model.encode(video)
    assert mem.mask is not None and mem.mask.shape == (3, 12)
    loss = model(ids, attn, mem)
    assert sizes[1][:1] == (3,) and sizes[1][-1] == 12
    changed = Memory(mem.hidden.clone(), mem.mask)
    changed.hidden[0, -3:] = 1e3  # padded tokens of image 0
    assert torch.allclose(model(ids, attn, changed), loss)
    same = model.generate(changed, num_beams=2, max_length=5)
    assert torch.equal(same, model.generate(mem, num_beams=2, max_length=5))


def test_generate_greedy_and_beam_start_with_bos(tok) -> None:
    model = _model(tok).eval()
    mem = model.encode(torch.randn(2, 3, 1, 8, 8))
    for beams in (1, 3):
        out = model.generate(mem, num_beams=beams, max_length=6)
        assert out.shape[0] == 2 and out.shape[1] <= 7 and (out[:, 0] == tok.bos_token_id).all()
        assert not (out[:, 1:] == tok.bos_token_id).any()


def test_memory_selection_and_repeat() -> None:
    out = StandIn(compressed=False)(torch.randn(2, 3, 1, 4, 4))
    with pytest.raises(ValueError, match="compressed tokens"):
        select_memory(out, "compressed")
    with pytest.raises(ValueError, match="valid: compressed, lookup, both"):
        select_memory(out, "all")
    mem = select_memory(out, "lookup")
    rep = repeat_memory(mem, torch.tensor([2, 3]))
    assert rep.hidden.shape[0] == 5
    assert torch.equal(rep.hidden[1], mem.hidden[0]) and torch.equal(rep.hidden[4], mem.hidden[1])


def test_real_lookupvit_frozen_memory_is_compressed_grid() -> None:
    from mmlookup import create_encoder, list_encoders

    if "lookupvit_nano" not in list_encoders():
        pytest.skip("lookupvit_nano not registered yet")
    tok = train_tokenizer(CAPTIONS)
    enc = create_encoder("lookupvit_nano", img_size=32, num_frames=4, patch_size=8, tubelet_size=2, grid=(2, 2, 2))
    cfg = CaptionCfg(decoder_width=32, decoder_layers=1, decoder_heads=2)
    model = CaptionModel(enc, build_decoder(cfg, len(tok), 2, 3, 0), memory="compressed")
    video = torch.randn(2, 3, 4, 32, 32)
    assert model.encode(video).hidden.shape == (2, 8, enc.embed_dim)  # 2x2x2 compressed grid
    assert model.encode(video[:, :, :1]).hidden.shape == (2, 4, enc.embed_dim)  # image: t_p = 1
    assert model.encode(video).mask is None
