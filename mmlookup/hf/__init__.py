"""Hugging Face ``trust_remote_code`` files that make an exported model folder load in transformers.

``modeling_mmlookup.py`` and ``processing_mmlookup.py`` are copied into every folder ``mmlookup export`` writes
(:func:`write_remote_code`); they import mmlookup, so the transformers user needs mmlookup installed.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

MODELING, PROCESSING = "modeling_mmlookup.py", "processing_mmlookup.py"
AUTO_MAP = {"AutoConfig": "modeling_mmlookup.MmlookupConfig",
            "AutoModelForVideoClassification": "modeling_mmlookup.MmlookupForVideoClassification"}
PROCESSOR_AUTO_MAP = {"AutoVideoProcessor": "processing_mmlookup.MmlookupVideoProcessor"}


def write_remote_code(folder: str | Path) -> None:
    """Add ``model_type`` / ``auto_map`` / ``num_frames`` to ``config.json``, copy the two code files, and write
    ``video_preprocessor_config.json`` from ``preprocessor_config.json`` (the data config; written from the model's
    geometry when the folder has none) with its ``auto_map``. ``mmlookup export`` calls it; a ``save_pretrained``
    folder can be given it too."""
    folder = Path(folder)
    here = Path(__file__).parent
    for name in (MODELING, PROCESSING):
        shutil.copyfile(here / name, folder / name)
    cfg_path = folder / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.update(model_type="mmlookup", auto_map=AUTO_MAP, architectures=["MmlookupForVideoClassification"],
               num_frames=int(cfg["encoder_kwargs"].get("num_frames", 16)))
    cfg_path.write_text(json.dumps(cfg, indent=2))
    pre_path = folder / "preprocessor_config.json"
    if not pre_path.is_file():                                  # a save_pretrained folder: the model's geometry
        from mmlookup.inference.preprocess import data_config

        pre_path.write_text(json.dumps(data_config(folder), indent=1))
    pre = json.loads(pre_path.read_text())
    (folder / "video_preprocessor_config.json").write_text(json.dumps(
        {**pre, "video_processor_type": "MmlookupVideoProcessor", "auto_map": PROCESSOR_AUTO_MAP}, indent=1))
