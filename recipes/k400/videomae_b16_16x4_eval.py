"""Evaluate an imported VideoMAE ViT-B/16 Kinetics-400 classifier (no training): 16 frames x interval 4, 224x224.

The checkpoint is a Hugging Face folder as `save_pretrained` writes it (config.json + model.safetensors), e.g.
MCG-NJU/videomae-base-finetuned-kinetics saved on a connected machine (README "Pretrained video models"). The
encoder is built from its config (no CLS token, fixed sinusoid positions, query/value biases, LayerNorm eps 1e-12,
no final norm) and its classifier (mean pooling -> fc_norm -> linear, 400 classes) is imported with it. The
class order is the sorted label names, which is the order of the checkpoint's id2label; check with
`python -c "import json; print(json.load(open('PATH/config.json'))['id2label']['0'])"` (expect "abseiling").

Command:   mmlookup eval recipes/k400/videomae_b16_16x4_eval.py \
               --set model.pretrained=PATH/TO/videomae-base-finetuned-kinetics --set data.root=PATH/TO/kinetics400
Hardware:  1 GPU (24 GB is plenty), bf16.
Test:      5 clips x 3 crops, short side 224 (VideoMAE's protocol).
Expected:  81.5 top-1 / 95.1 top-5 as published for this checkpoint (VideoMAE paper and MCG-NJU/VideoMAE
           MODEL_ZOO.md, on their copy of the validation set); NOT measured here (no Kinetics copy or GPU on the
           machines this project is built on). Missing YouTube videos shift the number by a few tenths.
"""
from mmlookup.config import Recipe, derive, sibling_recipe

VIDEOMAE_B = dict(class_token=False, pos_embed="sincos", qkv_bias="qv", norm_eps=1e-12, final_norm=False)


def get_recipe(arg: str = "") -> Recipe:
    # clip geometry, data and test views of the K400 ViT-B recipe; the architecture of VideoMAE-B
    return derive(sibling_recipe(__file__, "vit_b16_16x4.py", arg), {
        "name": "k400_videomae_b16_16x4_eval",
        "train.output_dir": "runs/k400_videomae_b16_16x4_eval",
        "model.encoder": "vit_base",
        "model.encoder_kwargs": VIDEOMAE_B,
        "model.drop_path_rate": 0.0,
        "eval.batch_size": 2 if arg == "runlocal" else 8,
    })
