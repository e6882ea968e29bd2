import pytest
import torch.nn as nn

from mmlookup import create_encoder, list_encoders
from mmlookup.registry import register_encoder


def test_families_and_sizes_registered():
    names = list_encoders()
    for fam in ("vit", "lookupvit"):
        for size in ("tiny", "small", "base"):
            assert f"{fam}_{size}" in names
    assert list_encoders("lookupvit_*") == [n for n in names if n.startswith("lookupvit_")]


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError) as err:
        create_encoder("lookupvit_huge")
    assert "unknown encoder 'lookupvit_huge'" in str(err.value)
    assert "lookupvit_base" in str(err.value) and "vit_tiny" in str(err.value)


def test_none_kwargs_are_dropped():
    enc = create_encoder("vit_nano", num_frames=None, img_size=None)
    assert enc.num_frames == 8 and enc.img_size == (64, 64)


def test_base_is_vit_b():
    enc = create_encoder("vit_base")
    assert (enc.embed_dim, enc.depth, enc.num_heads) == (768, 12, 12)
    assert sum(p.numel() for n, p in enc.named_parameters() if n.startswith("blocks.")) == pytest.approx(
        85.05e6, rel=0.01
    )


def test_duplicate_registration_is_an_error():
    def vit_nano() -> nn.Module:  # same name as a registered variant
        return nn.Identity()

    with pytest.raises(ValueError, match="registered twice"):
        register_encoder(vit_nano)
