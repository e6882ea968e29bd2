"""The synthetic caption clips read through the MSR-VTT reader: the video-captioning path end to end on a CPU.

    mmlookup train recipes/msrvtt/caption_synthetic.py             # 160 train+validate / 40 test clips
    mmlookup train recipes/msrvtt/caption_synthetic.py:runlocal    # a few steps (what CI runs, smaller)
    mmlookup caption --checkpoint runs/msrvtt_caption_synthetic data/synthetic/msrvtt/videos/video170.mp4
    mmlookup eval-captions runs/msrvtt_caption_synthetic/results_test.json \\
        data/synthetic/msrvtt/test_videodatainfo.json

Hardware: 2 CPU cores, fp32. Everything but the data format is ``recipes/coco/caption_synthetic.py:video``
(frozen LookupViT-nano, the demo's weights when ``runs/demo/lookupvit`` exists, 2x2x2 = 8 compressed tokens per
clip, GPT-2 2x128, 60 epochs, beam 3). The synthetic set writes an MSR-VTT-layout copy of its caption clips
(``data/synthetic/msrvtt``: ``train_val_videodatainfo.json``, ``test_videodatainfo.json``, ``videos/videoN.mp4``):
train+validate are the COCO-format training clips and test the COCO-format validation clips, captions in the
same order, so this run must score what the COCO-format clip run scores (same clips, tokenizer and batches).
Expected: the clip rows of the README's captioning tables. Measured (`:random`, seed 0, OMP_NUM_THREADS=1, shared
2-core machine): CIDEr 1.1451, BLEU-4 0.2544, METEOR 0.2514 on the 40 test clips (baseline CIDEr 0.138), every
score equal to full precision to the COCO-format run `recipes/coco/caption_synthetic.py:video,random`.
"""
from mmlookup.config import Recipe, derive, sibling_recipe

ROOT = "data/synthetic/msrvtt"


def get_recipe(arg: str = "") -> Recipe:
    base = sibling_recipe(__file__, "../coco/caption_synthetic.py", ",".join(["video", *filter(None, [arg])]))
    name = "msrvtt_caption_synthetic" + ("_runlocal" if "runlocal" in arg else "")
    return derive(base, {
        "name": "msrvtt_caption_synthetic",
        "caption.format": "msrvtt",
        "caption.train_annotations": f"{ROOT}/train_val_videodatainfo.json",
        "caption.val_annotations": f"{ROOT}/test_videodatainfo.json",
        "caption.train_splits": ["train", "validate"],
        "caption.eval_split": "test",
        "caption.cache_dir": f"{ROOT}/cache",
        "train.output_dir": f"runs/{name}",
    })
