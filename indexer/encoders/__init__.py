"""Vision encoders: frames in, retrieval embeddings and pooled patch features out."""

from indexer.encoders.base import EncodedFrames, EncoderInfo, EncoderSpec, VisionEncoder
from indexer.encoders.loading import describe_vision_encoder, load_vision_encoder

__all__ = ["EncodedFrames", "EncoderInfo", "EncoderSpec", "VisionEncoder", "describe_vision_encoder", "load_vision_encoder"]
