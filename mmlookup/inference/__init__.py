"""Using a trained model: :class:`Predictor` (files or clips → top-k class names), compute-budgeted settings,
``mmlookup predict`` and the ``mmlookup app`` demo page."""
from mmlookup.inference.predictor import FileResult, Predictor

__all__ = ["FileResult", "Predictor"]
