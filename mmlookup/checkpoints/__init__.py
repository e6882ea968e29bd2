"""The checkpoint layer: every checkpoint reference is read here, and nowhere else (DESIGN §9).

    ckpt = read_checkpoint("videomae-base-finetuned-kinetics")   # kind, config, encoder/head tensors, class names
    report = load_checkpoint(encoder, "runs/vit_nano/checkpoints/best")   # read, fit to the encoder, load

A reference is a run folder, a checkpoint folder, a model folder, a Hugging Face VideoMAE / ViViT / ViT folder, a
timm / torchvision / Hugging Face state-dict file, an in-memory state dict or a source module. One module per
source format: :mod:`.ours`, :mod:`.timm`, :mod:`.torchvision` and :mod:`.hf_vit` provide the readers registered in
:data:`READERS`, :mod:`.videomae` and :mod:`.vivit` what those configs fix (:data:`HF_VIDEO_MODELS`, used by
:mod:`.hf_video`); :mod:`.fit` fits what a reader returns to a target encoder; :mod:`.arch` completes an
encoder's name and arguments from a checkpoint's config. This package sits below
models, heads, engine, viz and bench and imports none of them.

Every source is first brought to one layout, our video ViT's (``patch_embed.proj`` 5-D, ``pos_embed.pos_t`` /
``pos_hw`` or joint ``pos_embed``, ``cls_token``, ``cls_pos``, ``blocks.i.{norm1, attn.qkv, attn.proj, norm2,
mlp.fc1, mlp.fc2}``, ``norm``), then fitted to the target:

* a 2-D patch kernel is inflated to the tubelet length (``"average"``: copies / t, or ``"central"``), so an image
  (``T = 1``) gives exactly the source's patch tokens; a tubelet kernel of another length is re-inflated;
* the 2-D position table ``(1, 1 + h·w, D)`` becomes ``cls_pos`` + ``pos_hw`` (``pos_t`` = 0), resized with the
  anti-aliased resampler when the grid differs; our own tables are resized the same way;
* ViT / EViT / ATS take the state dict as is (same parameter names); LookupViT takes the ViT blocks as its
  compressed stream's ``refine`` blocks and the final norm as ``norm_compressed``; its cross-attention and D/2
  lookup MLP stay newly initialised (the report lists them), the CLS token is dropped;
* LayerNorm eps follows the source (torchvision/timm 1e-6, as ours; Hugging Face ``layer_norm_eps``, 1e-12 by
  default) and the activation must be the target's (exact GELU, or ``gelu_tanh`` for ViViT's ``gelu_fast``);
* a Hugging Face video model (5-D tubelet kernel) maps onto a video ViT built from its config
  (:func:`hf_video_encoder_kwargs`, which ``create_encoder("vit", checkpoint=DIR)`` applies): VideoMAE has no
  CLS token, the fixed sinusoid table (``pos_embed="sincos"``), query/value biases (``qkv_bias="qv"``) and, when
  it mean-pools, no final norm but an ``fc_norm`` (eps 1e-5) on the pooled token, part of its head; ViViT
  has a CLS token whose position is row 0 of its joint learned table (``pos_embed="learned_joint"``).

The loader prints what it mapped, resized, left new and ignored; a shape mismatch is an error naming the tensor.
The source's classifier (when present) is returned in :attr:`LoadReport.head_state`, in our heads' naming
(``fc.weight``, ``fc.bias``, ``fc_norm.*``, LookupViT's ``fc_compressed.*`` / ``fc_lookup.*``), with the pooling it
was trained with in :attr:`LoadReport.head_pool`; :func:`mmlookup.create_classifier` builds the classifier from it.
A new format adds a reader module, an entry of :data:`READERS` and a key test in :func:`detect_format`.
"""
from mmlookup.checkpoints.arch import ARCH_KEYS, apply_checkpoint_config, resolve_encoder_args
from mmlookup.checkpoints.fit import WeightShapeError, fit_to_model, image_to_native, vit_to_lookupvit
from mmlookup.checkpoints.hf_video import (
    HF_ACTIVATIONS,
    HF_VIDEO_MODELS,
    HF_VIDEO_TYPES,
    hf_video_encoder_kwargs,
    hf_video_to_native,
)
from mmlookup.checkpoints.hf_vit import read_hf
from mmlookup.checkpoints.labels import CLASSES_FILE, id2label_names, label_maps, read_class_names
from mmlookup.checkpoints.load import FORMATS, READERS, load_checkpoint, read_checkpoint
from mmlookup.checkpoints.ours import (
    BEST,
    FOLDER_VERSION,
    STATE_FILE,
    WEIGHTS,
    find_recipe,
    is_model_folder,
    latest_checkpoint,
    load_folder_weights,
    read_mmlookup,
    read_model_folder_config,
    resolve_checkpoint,
    resolve_reference,
    resume_checkpoint,
    run_checkpoint,
    run_dir_of,
)
from mmlookup.checkpoints.read import (
    checkpoint_config,
    classifier_classes,
    detect_format,
    read_state_dict,
    tensor_shapes,
    torch_load,
    weight_shapes,
)
from mmlookup.checkpoints.report import Checkpoint, LoadReport, SourceMeta, SourceParts, StateDict, head_num_classes
from mmlookup.checkpoints.timm import read_timm
from mmlookup.checkpoints.torchvision import read_torchvision

__all__ = [
    "ARCH_KEYS", "BEST", "CLASSES_FILE", "Checkpoint", "FOLDER_VERSION", "FORMATS", "HF_ACTIVATIONS", "HF_VIDEO_MODELS",
    "HF_VIDEO_TYPES", "LoadReport", "READERS", "STATE_FILE", "SourceMeta", "SourceParts", "StateDict", "WEIGHTS",
    "apply_checkpoint_config", "checkpoint_config", "classifier_classes", "detect_format", "find_recipe",
    "fit_to_model",
    "head_num_classes", "hf_video_encoder_kwargs", "hf_video_to_native", "id2label_names", "image_to_native",
    "is_model_folder", "label_maps", "latest_checkpoint", "load_checkpoint", "load_folder_weights", "read_checkpoint",
    "read_class_names", "read_hf", "read_mmlookup", "read_model_folder_config", "read_state_dict", "read_timm",
    "read_torchvision", "resolve_checkpoint", "resolve_encoder_args", "resolve_reference", "resume_checkpoint",
    "run_checkpoint", "run_dir_of",
    "tensor_shapes", "torch_load", "vit_to_lookupvit", "weight_shapes", "WeightShapeError",
]
