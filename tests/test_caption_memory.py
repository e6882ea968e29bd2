"""Caption memory from token-reducing encoders: EViT / ATS / ToMe final token sets at a chosen size, masks honoured,
encoder frozen bit for bit."""
from __future__ import annotations

import pytest
import torch

from mmlookup import create_encoder
from mmlookup.captioning.config import CaptionCfg
from mmlookup.captioning.model import CaptionModel, Memory, build_decoder, repeat_memory
from mmlookup.config import OptimCfg
from mmlookup.engine.optim import build_optimizer

GEOM = dict(num_frames=8, img_size=64, patch_size=8, tubelet_size=2)


def _captioner(encoder: str, memory: str = "reduced", memory_tokens: int = 0) -> CaptionModel:
    torch.manual_seed(0)
    cfg = CaptionCfg(decoder_width=32, decoder_layers=1, decoder_heads=2, decoder_dropout=0.0)
    dec = build_decoder(cfg, vocab_size=20, bos_id=1, eos_id=2, pad_id=0)
    return CaptionModel(create_encoder(encoder, **GEOM), dec, memory=memory, memory_tokens=memory_tokens)


@pytest.mark.parametrize("encoder,frames,k", [("evit_nano", 8, 8), ("evit_nano", 8, 32), ("evit_nano", 1, 4),
                                              ("evit_nano", 1, 16), ("tome_nano", 8, 17), ("tome_nano", 1, 5)])
def test_evit_and_tome_memory_have_exactly_the_asked_size_on_clips_and_images(encoder: str, frames: int, k: int
                                                                              ) -> None:
    model = _captioner(encoder, memory_tokens=k)
    mem = model.encode(torch.randn(2, 3, frames, 64, 64))
    assert mem.hidden.shape == (2, k, 128) and mem.mask is None


def test_tome_schedule_spreads_merges_and_refuses_the_impossible() -> None:
    from mmlookup.captioning.reduce import set_final_tokens

    enc = create_encoder("tome_nano", **GEOM)
    set_final_tokens(enc, 64, 32)
    assert enc.r == [9, 8, 8, 8] and enc.token_schedule(65)[-1] == 32
    set_final_tokens(enc, 64, 8)  # even shares (15, 14, ...) would leave the last layer more than half to merge
    assert enc.token_schedule(65)[-1] == 8 and enc.r[0] > enc.r[-1]
    set_final_tokens(enc, 256, 17)
    assert enc.r == [128, 64, 32, 16]
    with pytest.raises(ValueError, match="the fewest is 17"):
        set_final_tokens(enc, 256, 8)


def test_ats_memory_is_at_most_the_size_and_its_mask_is_honoured() -> None:
    model = _captioner("ats_nano", memory_tokens=32).eval()
    for seed in range(20):  # the first input whose clips keep different numbers of tokens (a padded batch)
        torch.manual_seed(seed)
        mem = model.encode(torch.randn(3, 3, 8, 64, 64))
        if mem.mask is not None:
            break
    assert mem.hidden.shape[1] <= 32 and mem.mask is not None and not mem.mask.all()  # ragged: padded batch
    ids = torch.tensor([[1, 5, 6, 7, 2], [1, 8, 9, 2, 0], [1, 3, 2, 0, 0]])
    attn = (ids != 0).long()
    noisy = Memory(torch.where(mem.mask.unsqueeze(-1), mem.hidden, 1e3 * torch.randn_like(mem.hidden)), mem.mask)

    def logits(m: Memory) -> torch.Tensor:
        hidden, mask = model._cross_inputs(m)
        return model.decoder(input_ids=ids, attention_mask=attn, encoder_hidden_states=hidden,
                             encoder_attention_mask=mask).logits

    torch.testing.assert_close(logits(noisy), logits(mem), rtol=0, atol=1e-5)
    assert not torch.allclose(logits(Memory(noisy.hidden)), logits(mem), atol=1e-3)  # the mask is what hides them
    assert torch.equal(model.generate(noisy, num_beams=2, max_length=6), model.generate(mem, num_beams=2, max_length=6))


def test_reduced_memory_refuses_encoders_that_do_not_reduce() -> None:
    with pytest.raises(ValueError, match="use caption.memory='compressed'"):
        _captioner("lookupvit_nano").encode(torch.randn(1, 3, 8, 64, 64))
    with pytest.raises(ValueError, match="token-reducing encoder"):
        _captioner("vit_nano", memory_tokens=8).encode(torch.randn(1, 3, 8, 64, 64))
    with pytest.raises(ValueError, match="needs caption.memory='reduced'"):
        CaptionCfg(memory="compressed", memory_tokens=8)
    with pytest.raises(ValueError, match="fewest is 3"):
        _captioner("evit_nano", memory_tokens=2).encode(torch.randn(1, 3, 8, 64, 64))


@pytest.mark.parametrize("encoder", ["evit_nano", "ats_nano", "tome_nano"])
def test_frozen_encoder_is_bit_identical_after_training(encoder: str) -> None:
    model = _captioner(encoder, memory_tokens=17)
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    opt = build_optimizer(model, OptimCfg(lr=1e-2, weight_decay=0.5))
    model.train()
    ids = torch.tensor([[1, 5, 6, 2], [1, 7, 2, 0]])
    for _ in range(3):
        mem = repeat_memory(model.encode(torch.randn(1, 3, 8, 64, 64)), torch.tensor([2]))
        loss = model(ids, (ids != 0).long(), mem)
        loss.backward()
        opt.step()
        opt.zero_grad()
    assert all(torch.equal(before[k], v) for k, v in model.encoder.state_dict().items())
    assert not model.encoder.training and all(p.grad is None for p in model.encoder.parameters())
    fresh = _captioner(encoder).adapter.parameters()
    assert any(not torch.equal(a, b) for a, b in zip(model.adapter.parameters(), fresh))  # the adapter did train
