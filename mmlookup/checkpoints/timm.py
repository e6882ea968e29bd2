"""Reader of timm ``VisionTransformer`` state dicts."""
from __future__ import annotations

from mmlookup.checkpoints.report import LoadReport, SourceParts, StateDict, _compact

_HEAD_KEYS = {"head.weight", "head.bias"}


_UNSUPPORTED = ("dist_token", "reg_token", "norm_pre", ".ls1.", ".ls2.", "attn.q_norm", "attn.k_norm", "norm_post")


def read_timm(sd: StateDict, report: LoadReport) -> SourceParts:
    """A timm ``VisionTransformer`` state dict, checked: classifier (``head.*``, ``fc_norm.*``) split off,
    unsupported parts named. timm pools the CLS token unless it has ``fc_norm`` (``global_pool="avg"``)."""
    bad = sorted(k for k in sd if any(u in k for u in _UNSUPPORTED))
    if bad:
        raise ValueError(f"unsupported ViT parts in the checkpoint (distillation/register tokens, layer scale, "
                         f"pre-norm or qk-norm): {_compact(bad)}")
    out: StateDict = {}
    for k, v in sd.items():
        if k in _HEAD_KEYS or k.startswith("fc_norm."):
            continue
        if k.startswith(("patch_embed.proj.", "blocks.", "norm.")) or k in ("cls_token", "pos_embed"):
            out[k] = v
        else:
            report.ignored.append(k)
    head: StateDict = {}
    pool = None
    if "head.weight" in sd:
        head = {"fc." + k[len("head."):]: v for k, v in sd.items() if k in _HEAD_KEYS}
        pool = "cls" if "cls_token" in sd else "mean"
    if "fc_norm.weight" in sd:
        head.update({k: v for k, v in sd.items() if k.startswith("fc_norm.")})
        pool = "mean"
        report.notes.append("the source mean-pools patch tokens through fc_norm (global_pool='avg')")
    return SourceParts(out, head, pool)
