"""MSR-VTT video captioning on a frozen LookupViT-B: its 4x7x7 compressed tokens are the only memory of a GPT-2.

Command:   mmlookup train recipes/msrvtt/caption_lookupvit_frozen.py
           accelerate launch --multi_gpu --num_processes 8 -m mmlookup train recipes/msrvtt/caption_lookupvit_frozen.py
           (`:runlocal` trains 20 steps on 32 clips and evaluates 50, to check the data layout on any machine)
           mmlookup eval-captions runs/msrvtt_caption_lookupvit_frozen/results_test.json \
               data/msrvtt/test_videodatainfo.json
Hardware:  1-8 GPUs, bf16. The encoder runs once per clip to fill the memory cache (float16, 196 x 768 per clip,
           ~2 GB for the 6,513 training clips), then every epoch trains only the decoder.
Data:      the official files `data/msrvtt/train_val_videodatainfo.json` and `test_videodatainfo.json` with the
           videos `videoN.mp4` under `data/msrvtt/` (or its `TrainValVideo/` and `TestVideo/` folders). Standard
           split: train on the 6,513 `train` clips (20 captions each), evaluate on the 2,990 `test` clips
           (`--set caption.eval_split=validate --set caption.val_annotations=` for the 497 validation clips).
           A missing or undecodable video is logged, skipped and counted in the evaluation line.
Encoder:   frozen LookupViT-B (16 frames sampled uniformly over the whole clip, 224x224, tubelet 2x16x16,
           compressed grid 4x7x7 = 196 tokens), weights from this project's Kinetics-400 run
           (`caption.encoder_checkpoint`, default `runs/k400_lookupvit_b16_16x4`, its best checkpoint).
           An imported video ViT (e.g. VideoMAE ViT-B fine-tuned on K400) instead:
           `--set model.encoder=vit_base --set model.grids=[] --set model.pretrained=PATH
           --set caption.encoder_checkpoint=None --set caption.memory=lookup` (all 1,568 tokens + CLS), or
           `--set model.encoder=evit_base --set caption.memory=reduced --set caption.memory_tokens=196` on the same
           weights for a memory the size of LookupViT's (training-free).
Expected:  not measured here (no MSR-VTT and no GPU on the development machine). Anchor: SwinBERT on the MSR-VTT
           test split, CIDEr 53.8 / BLEU-4 41.9 (METEOR 29.9, ROUGE-L 62.1), trained end to end, encoder
           included; a frozen encoder with a small decoder trained on MSR-VTT alone should be expected below it
           (`reference/captioning.md`: CIDEr ~45-55 for frozen features + decoder [recalled, not verified]).
"""
from mmlookup.config import Recipe


def get_recipe(arg: str = "") -> Recipe:
    r = Recipe(name="msrvtt_caption_lookupvit_frozen", task="caption")
    m = r.model
    m.encoder, m.num_frames, m.img_size, m.tubelet_size, m.patch_size = "lookupvit_base", 16, 224, 2, 16
    m.grids, m.drop_path_rate = ((4, 7, 7),), 0.0
    c = r.caption
    c.encoder_checkpoint = "runs/k400_lookupvit_b16_16x4"
    c.memory, c.adapter = "compressed", True
    c.decoder_width, c.decoder_layers, c.decoder_heads, c.decoder_dropout = 512, 4, 8, 0.1
    c.vocab_min_freq, c.max_caption_tokens = 3, 24  # ~10k-word vocabulary; 22 words + BOS/EOS
    c.num_beams, c.max_length = 3, 20
    c.format, c.media_root = "msrvtt", "data/msrvtt"
    c.train_annotations = "data/msrvtt/train_val_videodatainfo.json"
    c.val_annotations = "data/msrvtt/test_videodatainfo.json"
    c.train_splits, c.eval_split = ["train"], "test"
    c.cache_dir = "data/msrvtt/cache"
    o = r.optim
    o.lr, o.min_lr, o.weight_decay, o.warmup_epochs, o.lr_scale_batch = 5e-4, 1e-5, 0.01, 1.0, 0
    t = r.train
    t.epochs, t.batch_size, t.num_workers, t.precision, t.clip_grad = 20, 16, 8, "bf16", 1.0  # 16 clips = 320 captions
    t.label_smoothing = 0.1
    t.eval_every, t.checkpoint_every, t.keep_last, t.log_every = 5, 1, 2, 50
    t.output_dir = "runs/msrvtt_caption_lookupvit_frozen"
    r.eval.batch_size, r.eval.num_workers = 64, 8
    if arg == "runlocal":
        t.epochs, t.max_steps, t.batch_size, t.num_workers, t.precision = 1, 20, 2, 0, "no"
        c.max_eval_samples, c.cache_dir = 50, None
        r.eval.batch_size, r.eval.num_workers = 8, 0
        t.output_dir += "_runlocal"
    elif arg:
        raise ValueError(f"unknown recipe argument {arg!r}; valid: '' or 'runlocal'")
    return r
