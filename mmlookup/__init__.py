"""mmlookup: efficient video understanding and captioning with token-compressing encoders."""
from mmlookup.encoders.base import Encoder, EncoderOutput
from mmlookup.models import VideoClassifier, create_classifier
from mmlookup.registry import create_encoder, list_encoders, register_encoder

__version__ = "0.1.0"
__all__ = ["Encoder", "EncoderOutput", "Predictor", "VideoClassifier", "create_classifier", "create_encoder",
           "list_encoders", "register_encoder", "__version__"]


def __getattr__(name: str):
    # Predictor pulls in the data pipeline (torchvision); imported on first use so `import mmlookup` stays light
    if name == "Predictor":
        from mmlookup.inference import Predictor

        return Predictor
    raise AttributeError(f"module 'mmlookup' has no attribute {name!r}")
