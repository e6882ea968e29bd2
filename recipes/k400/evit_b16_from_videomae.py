"""EViT-B/16 fine-tuned from a VideoMAE-B Kinetics-400 classifier (EViT's recipe: start from the trained ViT), with
soft distillation from the same frozen classifier.

The teacher is a Hugging Face VideoMAE folder (config.json + model.safetensors). The student is the teacher itself
(`model.init_from="teacher"`): its config fixes the architecture (no CLS token, fixed sinusoid positions,
query/value biases, no final norm, mean pooling + fc_norm), and the classifier head is imported. Without a CLS token
EViT scores tokens by the attention of the mean query (DESIGN §5). Keep rate 0.7 at layers 3, 6, 9 with the warm-up
schedule of recipes/k400/evit_b16_16x4.py, whose schedule, data and views this recipe keeps.

Command:   accelerate launch --multi_gpu --num_processes 8 -m mmlookup.train recipes/k400/evit_b16_from_videomae.py \
               --set distill.teacher=PATH/TO/videomae-base-finetuned-kinetics --set data.root=PATH/TO/kinetics400
Hardware:  8 GPUs (80 GB), bf16.
Expected:  not measured here (no Kinetics copy or GPU). Anchors: the teacher, 81.5 top-1 (VideoMAE-B); EViT's
           paper loses 0.3 points on ImageNet at rho = 0.7 after fine-tuning DeiT-S (79.5 vs 79.8). Compare with the
           training-free number: `mmlookup eval recipes/k400/evit_b16_16x4.py --set model.pretrained=TEACHER`.
"""
from mmlookup.config import Recipe, derive, sibling_recipe


def get_recipe(arg: str = "") -> Recipe:
    return derive(sibling_recipe(__file__, "evit_b16_16x4.py", arg), {
        "name": "k400_evit_b16_from_videomae",
        "train.output_dir": "runs/k400_evit_b16_from_videomae",
        "model.init_from": "teacher",
        "distill.teacher": "PATH/TO/videomae-base-finetuned-kinetics",
        "distill.kind": "soft",
        "distill.alpha": 0.5,
        "distill.tau": 1.0,
    })
