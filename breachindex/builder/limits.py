"""What one index may hold, in one place: every front end (``build``, ``build_index``,
``add_breach``) checks its input against ``LIMITS``."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .._core import lib
from ..errors import BuildError

__all__ = ["BuildLimits", "LIMITS", "check_breach_name", "check_class_name", "check_dir_bits"]

_CLASS_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")


@dataclass(frozen=True)
class BuildLimits:
    #: breaches an index holds: a row's breach mask is a uint32 in the profiles file
    breaches: int = 32
    #: data classes an index holds: a row's class mask is a uint32 (``BI_MAX_CLASSES`` in C)
    data_classes: int = lib.BI_MAX_CLASSES
    #: class bits in the packed record word of a spilling build (``builder.records``): the leak
    #: layouts' classes; an index's other classes never travel in that word
    record_classes: int = 16
    #: key tweaks tried before a build gives up on 64-bit key collisions (each retry fails with
    #: probability about rows^2 / 2^65)
    tweaks: int = 8
    #: characters of a breach name
    breach_name: int = 128

    def check_breaches(self, count: int) -> None:
        if count > self.breaches:
            raise BuildError(f"an index holds at most {self.breaches} breaches")

    def check_data_classes(self, count: int) -> None:
        if count > self.data_classes:
            raise BuildError(f"an index holds at most {self.data_classes} data classes")


LIMITS = BuildLimits()


def check_breach_name(name: object) -> str:
    if not isinstance(name, str) or not name or len(name) > LIMITS.breach_name or not name.isprintable():
        raise BuildError(f"a breach name must be a printable, non-empty str of at most {LIMITS.breach_name} "
                         "characters")
    return name


def check_class_name(name: object) -> str:
    if not isinstance(name, str) or not _CLASS_NAME.match(name):
        raise BuildError(f"data class names are lower-case identifiers (e.g. 'email_address'); got {name!r}")
    return name


def check_dir_bits(dir_bits: int | None) -> None:
    """dir_bits within what the C core reads (None: chosen from the row count)."""
    if dir_bits is not None and not lib.BI_MIN_DIR_BITS <= dir_bits <= lib.BI_MAX_DIR_BITS:
        raise BuildError(f"dir_bits must be between {lib.BI_MIN_DIR_BITS} and {lib.BI_MAX_DIR_BITS}")
