"""Haechi: find, evidence and take down non-consensual intimate imagery and sexual deepfakes.

>>> from haechi import Haechi
>>> h = Haechi(home="/tmp/haechi-doc")  # doctest: +SKIP
>>> h.create_bank("reported")  # doctest: +SKIP
"""

from haechi.app import Haechi
from haechi.errors import HaechiError, InputError, NotFound

__version__ = "0.1.0"

__all__ = ["Haechi", "HaechiError", "InputError", "NotFound", "__version__"]
