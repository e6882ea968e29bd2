"""Video data: annotation readers, decord decoding, clip sampling, transforms, the synthetic dataset.

The public names below are the contract the training engine codes against.
"""
from mmlookup.data.annotations import FORMATS, Annotations, detect_format, read_annotations
from mmlookup.data.dataset import VideoClassificationDataset, build_video_dataset
from mmlookup.data.decode import VideoDecodeError, VideoInfo, read_clip, video_info
from mmlookup.data.records import ClipBatch, ClipSample, VideoRecord, collate_clips
from mmlookup.data.sampling import dense_indices, segment_indices
from mmlookup.data.transforms import flip_label_map, mixup_cutmix

__all__ = [
    "FORMATS", "Annotations", "ClipBatch", "ClipSample", "VideoClassificationDataset", "VideoDecodeError",
    "VideoInfo", "VideoRecord", "build_video_dataset", "collate_clips", "dense_indices", "detect_format",
    "flip_label_map", "mixup_cutmix", "read_annotations", "read_clip", "segment_indices", "video_info",
]
