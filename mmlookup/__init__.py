"""mmlookup: efficient video understanding and captioning with token-compressing encoders."""
from mmlookup.encoders.base import Encoder, EncoderOutput
from mmlookup.models import VideoClassifier, create_classifier
from mmlookup.registry import create_encoder, list_encoders, register_encoder

__version__ = "0.1.0"
__all__ = ["Encoder", "EncoderOutput", "Predictor", "VideoClassifier", "create_classifier", "create_encoder",
           "create_transform", "data_config", "list_encoders", "register_encoder", "__version__"]

# these pull in the data pipeline (torchvision); imported on first use so `import mmlookup` stays light
_LAZY = {"Predictor": "mmlookup.inference.predictor", "data_config": "mmlookup.inference.preprocess",
         "create_transform": "mmlookup.inference.preprocess"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mmlookup' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
