"""Safe decoding of media: limits, orientation, first frames. Every signal reads what this gives."""

from haechi.media.decode import DecodedImage, decode_image, sniff_media_type

__all__ = ["DecodedImage", "decode_image", "sniff_media_type"]
