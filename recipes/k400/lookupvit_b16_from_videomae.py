"""LookupViT-B/16 from a VideoMAE-B Kinetics-400 classifier: compressed stream initialised from the teacher's
blocks, then trained with soft distillation from it (the teacher frozen, in bf16 like the student).

The teacher is a Hugging Face folder as `save_pretrained` writes it (config.json + model.safetensors), e.g.
MCG-NJU/videomae-base-finetuned-kinetics saved on a connected machine (README "Pretrained video models"). The
student keeps VideoMAE's geometry and its fixed sinusoid positions (`pos_embed="sincos"`); the loader maps the 12
ViT blocks onto the compressed stream's refine blocks (query/value biases become full biases with a zero key bias,
LayerNorm eps 1e-12), and the cross-attention, the D/2 lookup MLP, norm_compressed (VideoMAE has no final norm)
and both heads start new: the load report lists each. Schedule, data and views: recipes/k400/lookupvit_b16_16x4.py.

Command:   accelerate launch --multi_gpu --num_processes 8 -m mmlookup.train \
               recipes/k400/lookupvit_b16_from_videomae.py \
               --set distill.teacher=PATH/TO/videomae-base-finetuned-kinetics --set data.root=PATH/TO/kinetics400
Hardware:  8 GPUs (80 GB), bf16; the teacher's forward adds about a ViT-B forward per clip (measure it with
           `mmlookup bench --train --teacher`).
Expected:  not measured here (no Kinetics copy or GPU on the machines this project is built on). Anchors: the
           teacher, 81.5 top-1 (VideoMAE-B, MODEL_ZOO.md); on the synthetic data the same recipe shape closes most of
           the gap to the teacher (docs/tasks/distillation.md).
"""
from mmlookup.config import Recipe, derive, sibling_recipe


def get_recipe(arg: str = "") -> Recipe:
    return derive(sibling_recipe(__file__, "lookupvit_b16_16x4.py", arg), {
        "name": "k400_lookupvit_b16_from_videomae",
        "train.output_dir": "runs/k400_lookupvit_b16_from_videomae",
        "model.encoder_kwargs": {"pos_embed": "sincos"},  # VideoMAE's fixed positions, as the teacher
        "model.init_from": "teacher",
        "distill.teacher": "PATH/TO/videomae-base-finetuned-kinetics",
        "distill.kind": "soft",
        "distill.alpha": 0.5,
        "distill.tau": 1.0,
    })
