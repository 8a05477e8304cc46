"""PDQ perceptual hash through Meta's reference implementation (``pdqhash``).

PDQ stays the exchange format: banks may hold PDQ hashes alone (hashes a victim made on her own
device), so everything that must work without the media works from these 256 bits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pdqhash
from PIL import Image

from haechi.errors import BadSignal
from haechi.signals.base import PHOTO, SignalType

#: pdqhash.compute_dihedral returns hashes of the query turned back by each of the 8 dihedral
#: transforms; index i matching a bank hash means the copy was made from the original by
#: TRANSFORMS[i]. Rotations are counter-clockwise (PIL's ROTATE_90 convention); flip_h mirrors
#: left-right, flip_v top-bottom, transpose/transverse mirror about the main/anti diagonal.
#: Measured with PIL transposes (tests/test_media.py checks it).
TRANSFORMS: tuple[str, ...] = (
    "original",
    "rot270",
    "rot180",
    "rot90",
    "flip_v",
    "flip_h",
    "transpose",
    "transverse",
)


def _transform_ops() -> dict[str, Image.Transpose | None]:
    T = Image.Transpose
    return {"original": None, "rot90": T.ROTATE_90, "rot180": T.ROTATE_180, "rot270": T.ROTATE_270,
            "flip_h": T.FLIP_LEFT_RIGHT, "flip_v": T.FLIP_TOP_BOTTOM, "transpose": T.TRANSPOSE,
            "transverse": T.TRANSVERSE}


def _compose_table() -> dict[tuple[str, str], str]:
    """(first, then) -> the single dihedral transform equal to doing ``first`` then ``then``."""
    ops = _transform_ops()
    probe = Image.fromarray(np.arange(6, dtype=np.uint8).reshape(2, 3))

    def apply(name: str, im: Image.Image) -> Image.Image:
        op = ops[name]
        return im if op is None else im.transpose(op)

    table = {}
    for first in ops:
        for then in ops:
            result = np.asarray(apply(then, apply(first, probe)))
            table[first, then] = next(n for n in ops if np.array_equal(np.asarray(apply(n, probe)), result))
    return table


_COMPOSE = _compose_table()


def compose(first: str, then: str) -> str:
    """Name of the transform ``then ∘ first`` (apply ``first``, then ``then``)."""
    return _COMPOSE[first, then]


#: names for the dihedral variants of a *mirrored* query: the copy is flip_h of TRANSFORMS[i]
MIRRORED_TRANSFORMS: tuple[str, ...] = tuple(compose(t, "flip_h") for t in TRANSFORMS)


def bits_to_hex(bits: np.ndarray) -> str:
    """256 bits (MSB first, as pdqhash returns them) to the 64-hex-digit exchange form."""
    return bytes(np.packbits(np.asarray(bits, dtype=np.uint8))).hex()


def hex_to_bytes(value: str) -> bytes:
    return bytes.fromhex(value)


@dataclass(frozen=True)
class PDQResult:
    hash: str
    quality: int
    #: the 8 dihedral variants, in TRANSFORMS order (empty when not computed)
    variants: tuple[str, ...] = ()


def pdq_of(rgb: np.ndarray, dihedral: bool = False) -> PDQResult:
    """PDQ of an RGB uint8 array; with ``dihedral`` also the 8 rotation/mirror variants."""
    arr = np.ascontiguousarray(rgb, dtype=np.uint8)
    if dihedral:
        vectors, quality = pdqhash.compute_dihedral(arr)
        hexes = tuple(bits_to_hex(v) for v in vectors)
        return PDQResult(hash=hexes[0], quality=int(quality), variants=hexes)
    vector, quality = pdqhash.compute(arr)
    return PDQResult(hash=bits_to_hex(vector), quality=int(quality))


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


class PDQSignal(SignalType):
    name: ClassVar[str] = "pdq"
    exact: ClassVar[bool] = False
    content_types: ClassVar[tuple[str, ...]] = (PHOTO,)
    field_names: ClassVar[dict[str, str]] = {PHOTO: "pdq"}

    @classmethod
    def examples(cls) -> list[str]:
        # from tx's PdqSignal.get_examples: pdq/data/bridge-mods and misc-images
        return ["f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22",
                "d8f8f0cec0f4a84f8e370a22038f67f0b36a2ed597231e1d72e6b39c4a9c9b22",
                "e64cc9d91c623882f8d1f1d9a398e78c9f199b3bd83924f2b7e11e0bf861b064",
                "6227401f601ff4ccafcc9fad4b0d95d371a2eb7265a3285234d228ca94deeb2d"]

    @classmethod
    def normalize(cls, value: str) -> str:
        text = value.strip().lower()
        if len(text) != 64 or not re.fullmatch(r"[0-9a-f]+", text):
            raise BadSignal(value, "not a PDQ hash (64 hex digits expected)")
        return text
