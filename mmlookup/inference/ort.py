"""The onnxruntime backend: a folder's ``model.onnx`` (``mmlookup export RUN OUT --format onnx``) as a callable
``video (B, 3, T, H, W) → logits (B, K)``, the same contract as the PyTorch classifier at the exported setting."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmlookup.engine.graph_export import DEPLOY_FILE, need_deploy_extra

BACKENDS = ("pytorch", "onnxruntime")


def read_deploy(folder: str | Path, fmt: str = "onnx") -> dict[str, Any]:
    """The ``deploy.json`` entry of ``fmt``; a one-line error when the folder has no such graph."""
    folder = Path(folder)
    path = folder / DEPLOY_FILE
    entry = json.loads(path.read_text()).get(fmt) if path.is_file() else None
    if not entry or not (folder / entry["file"]).is_file():
        raise ValueError(f"{folder} has no {fmt} graph (deploy.json + model.{fmt}): write one with mmlookup export "
                         f"RUN {folder} --format {fmt}")
    return entry


class OrtClassifier:
    """``model.onnx`` in an ``onnxruntime.InferenceSession``; ``__call__(video)`` returns float32 logits ``(B, K)``.

    Args:
        folder: the exported folder. threads: intra-op threads (0: onnxruntime's default, all cores).
        device: ``cpu``, or ``cuda`` when onnxruntime's CUDA provider is installed.
    """

    def __init__(self, folder: str | Path, *, threads: int = 0, device: str = "cpu") -> None:
        need_deploy_extra("the onnxruntime backend")
        import onnxruntime as ort

        self.entry = read_deploy(folder)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ValueError("onnxruntime here has no CUDA provider (pip install onnxruntime-gpu); use --device "
                                 "cpu")
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(str(Path(folder) / self.entry["file"]), options, providers=providers)
        self.input, self.output = self.entry["input"], self.entry["output"]

    @property
    def setting(self) -> dict[str, Any]:
        return dict(self.entry.get("setting", {}))

    def __call__(self, video: torch.Tensor) -> torch.Tensor:
        x = np.ascontiguousarray(video.detach().to("cpu", torch.float32).numpy())
        return torch.from_numpy(self.session.run([self.output], {self.input: x})[0])
