"""mmlookup: efficient video understanding and captioning with token-compressing encoders."""
from mmlookup.encoders.base import Encoder, EncoderOutput
from mmlookup.inference import Predictor
from mmlookup.models import VideoClassifier, create_classifier
from mmlookup.registry import create_encoder, list_encoders, register_encoder

__version__ = "0.1.0"
__all__ = ["Encoder", "EncoderOutput", "Predictor", "VideoClassifier", "create_classifier", "create_encoder",
           "list_encoders", "register_encoder", "__version__"]
