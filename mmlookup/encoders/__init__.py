"""Encoder families; importing this package registers all of them."""
from mmlookup.encoders import ats, evit, lookupvit, tome, vit  # noqa: F401  (registration)
from mmlookup.encoders.base import Encoder, EncoderOutput
from mmlookup.encoders.lookupvit import LookupViT
from mmlookup.encoders.vit import VideoViT

__all__ = ["Encoder", "EncoderOutput", "LookupViT", "VideoViT"]
