"""COCO captioning on a frozen LookupViT-B: its 7x7 compressed tokens are the only memory of a GPT-2 decoder.

Command:   mmlookup train recipes/coco/caption_lookupvit_frozen.py
           accelerate launch --multi_gpu --num_processes 8 -m mmlookup train recipes/coco/caption_lookupvit_frozen.py
           mmlookup train recipes/coco/caption_lookupvit_frozen.py:k400     (frozen video encoder, see Encoder)
           (`:runlocal` trains 20 steps on 64 images and evaluates 50, to check the data layout on any machine)
Hardware:  1-8 GPUs, bf16. The encoder runs once per image to fill the memory cache (float16, ~8.5 GB on disk
           for train+restval), then every epoch trains only the decoder (~0.4 s/step on one GPU [estimate]).
Data:      Karpathy split: `data/coco/dataset_coco.json` with `data/coco/train2014/` and `data/coco/val2014/`
           (filepath/filename from the Karpathy file). Train on train+restval (113,287 images, 5 captions each),
           evaluate on test (5,000 images) with beam 3 and at most 20 tokens; scores from pycocoevalcap
           (BLEU-1..4, METEOR, ROUGE-L, CIDEr; SPICE only where its CoreNLP jars are installed).
Encoder:   frozen LookupViT-B trained on ImageNet-1k by default: the image run of recipes/imagenet/lookupvit_b16.py
           (`caption.encoder_checkpoint=runs/imagenet_lookupvit_b16`, its best checkpoint; image mode, 1x224x224,
           patch 16, compressed grid 1x7x7 = 49 tokens, the grid that run evaluates first). Video runs stay
           possible: `:k400` reads runs/k400_lookupvit_b16_16x4 (16x224x224, tubelet 2x16x16, grid 4x7x7; an
           image is one frame, so its grid is 1x7x7 too); any run works when model.* matches its recipe. Or
           imported ViT-B weights: `--set model.pretrained=PATH --set caption.encoder_checkpoint=None`.
Expected:  not measured here (no COCO and no GPU on the development machine). Anchors from
           `reference/captioning.md` §4: frozen-encoder, small decoder, cross-entropy only, on Karpathy test:
           about CIDEr 0.95-1.10 (ClipCap-like regime; extrapolated, not verified). Compare
           `--set caption.memory=lookup` (196 lookup tokens) for the cost/quality trade.
"""
from mmlookup.config import Recipe


def get_recipe(arg: str = "") -> Recipe:
    if arg not in ("", "runlocal", "k400"):
        raise ValueError(f"unknown recipe argument {arg!r}; valid: '', 'k400' or 'runlocal'")
    r = Recipe(name="coco_caption_lookupvit_frozen", task="caption")
    m = r.model
    # the encoder's geometry must match the run it is read from (strict loading)
    m.encoder, m.num_frames, m.img_size, m.tubelet_size, m.patch_size = "lookupvit_base", 1, 224, 1, 16
    m.grids, m.drop_path_rate = ((1, 7, 7),), 0.0
    c = r.caption
    c.encoder_checkpoint = "runs/imagenet_lookupvit_b16"
    if arg == "k400":
        m.num_frames, m.tubelet_size, m.grids = 16, 2, ((4, 7, 7),)
        c.encoder_checkpoint = "runs/k400_lookupvit_b16_16x4"
        r.name += "_k400"
    c.memory, c.adapter = "compressed", True
    c.decoder_width, c.decoder_layers, c.decoder_heads, c.decoder_dropout = 512, 6, 8, 0.1
    c.vocab_min_freq, c.max_caption_tokens = 5, 18  # classic ~9.5k-word vocabulary; 16 words + BOS/EOS
    c.num_beams, c.max_length = 3, 20
    c.format, c.train_annotations, c.media_root = "karpathy", "data/coco/dataset_coco.json", "data/coco"
    c.train_splits, c.eval_split = ["train", "restval"], "test"
    c.cache_dir = "data/coco/cache"
    o = r.optim
    o.lr, o.min_lr, o.weight_decay, o.warmup_epochs, o.lr_scale_batch = 5e-4, 1e-5, 0.01, 1.0, 0
    t = r.train
    t.epochs, t.batch_size, t.num_workers, t.precision, t.clip_grad = 20, 64, 8, "bf16", 1.0
    t.label_smoothing = 0.1
    t.eval_every, t.checkpoint_every, t.keep_last, t.log_every = 5, 1, 2, 50
    t.output_dir = f"runs/{r.name}"
    r.eval.batch_size, r.eval.num_workers = 128, 8
    if arg == "runlocal":
        t.epochs, t.max_steps, t.batch_size, t.num_workers, t.precision = 1, 20, 4, 0, "no"
        c.max_eval_samples, c.cache_dir = 50, None
        r.eval.batch_size, r.eval.num_workers = 8, 0
        t.output_dir += "_runlocal"
    return r
