"""A classifier as a deployable graph: ONNX (``torch.onnx.export``, the ``torch.export``-based exporter) or
``torch.export``'s ``.pt2``, with a dynamic batch axis, at one compute setting.

The graph is ``video (B, 3, T, H, W) float32 → logits (B, K)``: normalised clips in (:func:`mmlookup.create_transform`
makes them), the classifier's ``(B, K)`` logits out (a two-head LookupViT's combined as evaluation combines them).
The setting is the model's when exported: LookupViT's compressed grid (``grid``), EViT's keep rate, ToMe's ``r``,
ATS's budget. ATS keeps a clip-dependent number of tokens; the graph uses the fixed-size formulation of
:func:`mmlookup.encoders.token_ops.fixed_token_shapes` (``min(K, N)`` slots per sampling layer, duplicates masked),
which gives the same logits.

Two operators need help: ``searchsorted`` (ATS) becomes a comparison count under fixed shapes, and the stable sort
(EViT's complement, ToMe's ordering, ATS's CDF) is written as ONNX ``TopK``, whose ties go to the lower index as a
stable sort's do. Needs the ``deploy`` extra (``pip install mmlookup[deploy]``: onnx, onnxscript, onnxruntime).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from mmlookup.encoders.token_ops import fixed_token_shapes

FORMATS = ("folder", "onnx", "pt2")
ONNX_FILE, PT2_FILE, DEPLOY_FILE = "model.onnx", "model.pt2", "deploy.json"
INPUT_NAME, OUTPUT_NAME = "video", "logits"
OPSET = 18


class GraphModule(nn.Module):
    """``video → (B, K)`` logits of ``classifier`` at ``grid``: the exact function the graph computes."""

    def __init__(self, classifier: nn.Module, grid: tuple[int, int, int] | None = None) -> None:
        super().__init__()
        self.classifier = classifier
        self.grid = tuple(grid) if grid is not None else None

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        if self.grid is not None:
            return self.classifier(video, self.grid)
        return self.classifier(video)


def need_deploy_extra(what: str) -> None:
    """A one-line error naming the ``deploy`` extra when onnx / onnxscript / onnxruntime are missing."""
    import importlib.util

    missing = [m for m in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        raise ValueError(f"{what} needs {', '.join(missing)}: pip install 'mmlookup[deploy]'")


def _example(classifier: nn.Module, batch: int = 2) -> torch.Tensor:
    enc = classifier.encoder
    size = enc.img_size[0] if isinstance(enc.img_size, (tuple, list)) else enc.img_size
    return torch.randn(batch, 3, int(enc.num_frames), int(size), int(size))


def _sort_translation() -> dict[Any, Any]:
    """``aten.sort.stable`` as ONNX ``TopK`` (ties by lower index) on a float64 copy, values gathered from the input."""
    from onnxscript import opset18 as op

    def sort_stable(self, stable=None, dim: int = -1, descending: bool = False):
        n = op.Shape(self, start=dim) if dim == -1 else op.Shape(self, start=dim, end=dim + 1)
        _, indices = op.TopK(op.Cast(self, to=11), n, axis=dim, largest=1 if descending else 0, sorted=1)
        return op.GatherElements(self, indices, axis=dim), indices

    return {torch.ops.aten.sort.stable: sort_stable}


def _dynamic_batch() -> dict[str, dict[int, Any]]:
    return {INPUT_NAME: {0: torch.export.Dim("batch", min=1, max=4096)}}


def export_onnx(classifier: nn.Module, path: str | Path, *, grid: tuple[int, int, int] | None = None) -> Path:
    """Write ``classifier`` (eval mode, float32, CPU) at ``grid`` as an ONNX graph with a dynamic batch axis."""
    need_deploy_extra("ONNX export")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = GraphModule(classifier.float().cpu().eval(), grid).eval()
    with torch.no_grad(), fixed_token_shapes():
        program = torch.onnx.export(
            module, (_example(classifier),), dynamo=True, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_shapes=_dynamic_batch(), custom_translation_table=_sort_translation(), opset_version=OPSET,
            verbose=False, report=False, optimize=True)
    program.save(str(path))
    return path


def export_pt2(classifier: nn.Module, path: str | Path, *, grid: tuple[int, int, int] | None = None) -> Path:
    """Write ``classifier`` at ``grid`` as a ``torch.export`` program (``torch.export.load(path).module()``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = GraphModule(classifier.float().cpu().eval(), grid).eval()
    with torch.no_grad(), fixed_token_shapes():
        program = torch.export.export(module, (_example(classifier),), dynamic_shapes=_dynamic_batch())
    torch.export.save(program, str(path))
    return path


def setting_of(classifier: nn.Module, grid: tuple[int, int, int] | None) -> dict[str, Any]:
    """The compute setting baked into the graph (what ``deploy.json`` records)."""
    enc = classifier.encoder
    setting: dict[str, Any] = {"encoder": enc.encoder_config["name"] if hasattr(enc, "encoder_config") else
                               type(enc).__name__}
    if grid is None and hasattr(enc, "compressed_grid"):                 # LookupViT: its default grid
        grid = enc.compressed_grid(None, enc.lookup_grid)
    if grid is not None:
        setting["grid"] = list(grid)
    for attr in ("keep_rate", "r"):
        if hasattr(enc, attr):
            setting[attr] = getattr(enc, attr)
    blocks = getattr(enc, "blocks", [])
    sampling = [b for b in blocks if getattr(b, "sample", False)]
    if sampling:
        setting["budget"] = sampling[0].budget
    return setting


def write_graph(classifier: nn.Module, out: str | Path, fmt: str, *, grid: tuple[int, int, int] | None = None
                ) -> Path:
    """Export ``classifier`` to ``out/model.onnx`` or ``out/model.pt2`` and record it in ``out/deploy.json``."""
    if fmt not in ("onnx", "pt2"):
        raise ValueError(f"unknown graph format {fmt!r}; valid: onnx, pt2")
    out = Path(out)
    file = ONNX_FILE if fmt == "onnx" else PT2_FILE
    (export_onnx if fmt == "onnx" else export_pt2)(classifier, out / file, grid=grid)
    enc = classifier.encoder
    size = enc.img_size[0] if isinstance(enc.img_size, (tuple, list)) else enc.img_size
    deploy_path = out / DEPLOY_FILE
    deploy = json.loads(deploy_path.read_text()) if deploy_path.is_file() else {}
    deploy[fmt] = {"file": file, "input": INPUT_NAME, "output": OUTPUT_NAME,
                   "input_shape": ["batch", 3, int(enc.num_frames), int(size), int(size)],
                   "output_shape": ["batch", int(classifier.head.fc.out_features if hasattr(classifier.head, "fc")
                                                 else classifier.head.fc_lookup.out_features)],
                   "setting": setting_of(classifier, grid), "torch": torch.__version__}
    if fmt == "onnx":
        deploy[fmt]["opset"] = OPSET
    deploy_path.write_text(json.dumps(deploy, indent=1))
    return out / file
