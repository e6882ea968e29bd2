"""VATEX (English) video captioning on a frozen LookupViT-B: its 4x7x7 compressed tokens are the decoder's memory.

Command:   mmlookup train recipes/vatex/caption_lookupvit_frozen.py
           accelerate launch --multi_gpu --num_processes 8 -m mmlookup train recipes/vatex/caption_lookupvit_frozen.py
           (`:runlocal` trains 20 steps and evaluates 50 clips, to check the data layout on any machine)
           mmlookup eval-captions runs/vatex_caption_lookupvit_frozen/results_val.json \
               data/vatex/vatex_validation_v1.0.json
Hardware:  1-8 GPUs, bf16. The encoder runs once per clip to fill the memory cache (float16, ~7.8 GB for the
           25,991 training clips), then every epoch trains only the decoder.
Data:      `data/vatex/vatex_training_v1.0.json` (train, 25,991 clips) and `vatex_validation_v1.0.json`
           (evaluation, 3,000 clips): lists of {videoID = <youtube_id>_<start>_<end>, enCap = 10 English
           captions}. The clips are Kinetics-600 segments named as in the Kinetics layout,
           `<youtube_id>_<start:06d>_<end:06d>.mp4`, flat under `data/vatex/videos/` or in a folder per label.
           YouTube removals make some clips unavailable: they are logged, skipped and counted. Results use the
           clip's position in the annotation file as `image_id` (`eval-captions` reads the same file).
Encoder:   frozen LookupViT-B (16 frames sampled uniformly over the 10 s clip, 224x224, compressed grid 4x7x7 =
           196 tokens), weights from this project's Kinetics-400 run (`caption.encoder_checkpoint`, default
           `runs/k400_lookupvit_b16_16x4`); an imported VideoMAE ViT-B as in the MSR-VTT recipe. VATEX clips are
           Kinetics-600 segments, so a K400-trained encoder may have seen some of them.
Expected:  not measured here (no VATEX and no GPU on the development machine). No anchor is quoted for VATEX
           (reference notes hold only its split sizes); on MSR-VTT the anchor is SwinBERT, CIDEr 53.8 /
           BLEU-4 41.9 on test, trained end to end (not frozen).
"""
from mmlookup.config import Recipe, derive, sibling_recipe


def get_recipe(arg: str = "") -> Recipe:
    # everything but the data comes from the MSR-VTT recipe beside this folder
    base = sibling_recipe(__file__, "../msrvtt/caption_lookupvit_frozen.py", arg)
    name = "vatex_caption_lookupvit_frozen"
    return derive(base, {
        "name": name,
        "caption.format": "vatex",
        "caption.media_root": "data/vatex/videos",
        "caption.train_annotations": "data/vatex/vatex_training_v1.0.json",
        "caption.val_annotations": "data/vatex/vatex_validation_v1.0.json",
        "caption.cache_dir": None if arg == "runlocal" else "data/vatex/cache",
        "train.output_dir": f"runs/{name}" + ("_runlocal" if arg == "runlocal" else ""),
    })
