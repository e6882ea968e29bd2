"""Synthetic captioning on a CPU: frozen LookupViT-nano, its compressed tokens as the only memory of a GPT-2.

    mmlookup train recipes/coco/caption_synthetic.py               # still images (400 train / 100 val)
    mmlookup train recipes/coco/caption_synthetic.py:video         # clips (160 train / 40 val), 8x32x32
    mmlookup train recipes/coco/caption_synthetic.py:random        # (or video,random) random frozen encoder
    mmlookup train recipes/coco/caption_synthetic.py:runlocal      # a few steps, for a smoke test
    mmlookup caption --checkpoint runs/caption_synthetic data/synthetic/coco/images/000000000401.jpg
    python tools/caption_memory_table.py --demo runs/demo          # the README's two captioning tables

Hardware: 2 CPU cores, fp32. The synthetic dataset is generated into ``data/synthetic`` on first use.
The encoder is frozen; its memory is computed once and cached in ``data/synthetic/coco/cache``, so epochs
only train the decoder. Encoder weights: the demo's LookupViT classification run (``runs/demo/lookupvit`` under the
folder the command runs in, written by ``mmlookup demo``; looked up once, when the recipe is loaded, and kept as
an absolute path) when it exists, at its geometry (8x32x32, tubelet 2x8x8, compressed grid 2x2x2: 8 tokens
per clip, 1x2x2 = 4 per still image); otherwise (or with ``random``) the random initialisation, which the run's
log says in its first line. Point ``caption.encoder_checkpoint`` at any other synthetic classification run; the
recipe carries the demo LookupViT's architecture switches (``model.encoder_kwargs``), so with another family add
``--set model.encoder_kwargs={}`` (e.g. ``--set model.encoder=vit_nano --set model.grids=[] --set
model.encoder_kwargs={}`` for the demo ViT).

Expected (seed 0, beam 3, pycocoevalcap, OMP_NUM_THREADS=1; the README's captioning table (a), measured with
tools/caption_memory_table.py, is the source of these figures):
    clips:        CIDEr 1.957 with the demo's trained LookupViT (83.3% top-1 at 2x2x2), 1.442 with random weights
                  (baseline 0.138);
    still images: CIDEr 3.288 trained, 2.546 random (baseline 0.434).
    (Baseline: the most frequent training caption for every item. Earlier, at 64x64 with random weights: CIDEr
    3.08 on still images and 1.57 on clips.)
"""
from pathlib import Path

from mmlookup.config import Recipe, load_recipe

DEMO_RUN = "runs/demo/lookupvit"  # `mmlookup demo` writes its LookupViT classification run here


def get_recipe(arg: str = "") -> Recipe:
    video = "video" in arg
    r = Recipe(name="caption_synthetic" + ("_video" if video else ""), task="caption")
    r.model.encoder = "lookupvit_nano"
    # the demo classifier's geometry (8x32x32, tubelet 2x8x8), so its weights fit
    r.model.num_frames, r.model.img_size, r.model.patch_size, r.model.tubelet_size = 8, 32, 8, 2
    r.model.grids = ((2, 2, 2),)
    r.model.drop_path_rate = 0.0
    # and its architecture switches (issue 18's from-scratch choices: stem norm, sin-cos positions, ...)
    r.model.encoder_kwargs = dict(load_recipe("synthetic/lookupvit.py").model.encoder_kwargs)
    root = "data/synthetic/coco"
    c = r.caption
    c.format = "coco"
    prefix = "video_captions" if video else "captions"
    c.train_annotations, c.val_annotations = f"{root}/{prefix}_train.json", f"{root}/{prefix}_val.json"
    c.memory = "compressed"
    # decided once, here, against the current folder (the base of every relative path in a recipe), and kept as an
    # absolute path: the recipe then reads the same weights from wherever it is run later
    demo = Path(DEMO_RUN).resolve()
    trained = "random" not in arg and (demo / "checkpoints").is_dir()
    c.encoder_checkpoint = str(demo) if trained else None
    c.decoder_width, c.decoder_layers, c.decoder_heads, c.decoder_dropout = 128, 2, 4, 0.1
    c.max_caption_tokens, c.max_length, c.num_beams = 16, 16, 3
    c.cache_dir = f"{root}/cache"
    r.data.synthetic = True
    r.optim.lr, r.optim.weight_decay, r.optim.warmup_epochs, r.optim.min_lr = 1e-3, 0.01, 1.0, 1e-5
    t = r.train
    t.epochs, t.batch_size, t.num_workers, t.precision = (60 if video else 30), 16, 0, "no"
    t.label_smoothing = 0.0
    t.eval_every, t.checkpoint_every, t.keep_last, t.log_every = 0, 10, 1, 20
    t.output_dir = f"runs/{r.name}"
    r.eval.batch_size, r.eval.num_workers = 32, 0
    if "runlocal" in arg:
        t.epochs, t.max_steps, c.max_eval_samples = 1, 3, 8
        t.output_dir = f"runs/{r.name}_runlocal"
    return r
