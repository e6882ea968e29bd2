"""An mmlookup model folder as a transformers model (``trust_remote_code``; needs ``pip install mmlookup``).

    from transformers import AutoModelForVideoClassification, pipeline
    model = AutoModelForVideoClassification.from_pretrained(FOLDER, trust_remote_code=True)
    model(pixel_values=views).logits           # views (B, C, T, H, W) or (B, V, C, T, H, W): (B, K)
    pipeline("video-classification", model=FOLDER, trust_remote_code=True)("clip.mp4")

The model is mmlookup's ``VideoClassifier`` rebuilt from ``config.json`` by mmlookup itself, with the folder's
weights; the logits are its ``(B, K)`` logits (several views: the log of their mean probability, as ``mmlookup
predict`` averages views).
"""
from __future__ import annotations

import torch
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import ImageClassifierOutput


class MmlookupConfig(PretrainedConfig):
    model_type = "mmlookup"


class MmlookupForVideoClassification(PreTrainedModel):
    config_class = MmlookupConfig
    main_input_name = "pixel_values"

    def __init__(self, config: MmlookupConfig) -> None:
        super().__init__(config)
        from mmlookup.models import load_folder_config_model

        built = load_folder_config_model(config.to_dict())
        self.encoder, self.head = built.encoder, built.head          # the folder's tensor names: encoder.*, head.*
        self.post_init()

    def _init_weights(self, module: torch.nn.Module) -> None:
        # the folder's weights load afterwards; only the fixed position tables (non-persistent buffers, which
        # transformers leaves empty) are recomputed here
        if hasattr(module, "fixed_table") and isinstance(getattr(module, "table", None), torch.Tensor):
            with torch.no_grad():
                module.table.copy_(module.fixed_table().to(module.table.dtype))

    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None, **_) -> ImageClassifierOutput:
        from mmlookup.heads import combine_logits

        views = pixel_values if pixel_values.ndim == 6 else pixel_values[:, None]
        flat = views.flatten(0, 1)
        logits = combine_logits(self.head(self.encoder(flat)))          # (B * V, K)
        logits = logits.unflatten(0, views.shape[:2])
        if views.shape[1] > 1:                                         # views: log of the mean probability
            logits = torch.logsumexp(logits.float().log_softmax(-1), dim=1) - torch.log(
                torch.tensor(float(views.shape[1])))
        else:
            logits = logits[:, 0]
        loss = torch.nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return ImageClassifierOutput(loss=loss, logits=logits)
