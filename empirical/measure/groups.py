"""THE group registry: the one place where a group's name becomes a ``theory.groups`` representation.

Every image group is a pixel permutation of an H x W image (the paper's: 36 x 36), so the theory's claims,
the data, the trainers and the metrics all see the same object. :func:`image_group` returns it as an
:class:`~empirical.measure.events.EventGroup` that knows its event (H x W images). A new group is one entry
here (a function of (H, W) returning a ``Representation`` with ``perms``) plus a test; every CLI reads its
``--groups`` choices from :data:`GROUPS`.

Names: R4 (rotations by k * 90 degrees; square images only), T3 (x-translations by W/3 pixels), D4 (the
square's 8 symmetries; square only), F2 (the left-right flip) and the family ``T<n>`` for any n >= 1:
cyclic x-translations by k * W/n pixels, k = 0..n-1 (needs n to divide W; ``T<W>`` is every 1-pixel
translation, and T3 is the n = 3 member). Flips and translations act on any H x W.
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np

from empirical.measure.events import EventGroup, acting_on
from theory import groups
from theory.groups import Representation

__all__ = ["GROUPS", "FAMILIES", "group_names", "image_group", "x_translations", "flips"]


def _grid(h: int, w: int) -> np.ndarray:
    return np.arange(h * w).reshape(h, w)


def _square(factory: Callable[[int], Representation], what: str) -> Callable[[int, int], Representation]:
    """A square-only group (rotations by 90 degrees map H x W to W x H): one line for H != W."""
    def build(h: int, w: int) -> Representation:
        if h != w:
            raise ValueError(f"{what} needs square images (H = W); got {h}x{w}: pad them to a square, or use "
                             f"F2 / T<n>, which act on any H x W")
        return factory(h)
    return build


def x_translations(h: int, w: int, n: int) -> Representation:
    """T<n>: cyclic translations of an H x W grid along x by k * W/n pixels, k = 0..n-1 (as ``torch.roll``)."""
    if n < 1 or w % n:
        divisors = [k for k in range(1, w + 1) if w % k == 0]
        raise ValueError(f"T{n} translates by W/{n} pixels and needs the width W divisible by {n}; got {h}x{w}. "
                         f"For this width use T<n> with n in {divisors}")
    idx = _grid(h, w)
    return groups.from_permutations(f"T{n}[{h}x{w}]", [np.roll(idx, k * (w // n), axis=1).ravel() for k in range(n)])


def flips(h: int, w: int) -> Representation:
    """F2: the identity and the horizontal (left-right) reflection of an H x W grid."""
    return groups.from_generators(f"F2[{h}x{w}]", [np.fliplr(_grid(h, w)).ravel()])


GROUPS: Mapping[str, Callable[[int, int], Representation]] = MappingProxyType({
    "R4": _square(groups.rotations, "R4"),  # rotations by k * 90 degrees (paper)
    "T3": lambda h, w: x_translations(h, w, 3),  # cyclic x-translations by W / 3 pixels (paper)
    "D4": _square(groups.square_symmetries, "D4"),  # the 8 rotations and reflections of the square
    "F2": flips,  # the horizontal reflection
})
# Parametrized names: pattern -> factory of (h, w, *the pattern's integer groups).
FAMILIES: Mapping[str, Callable[..., Representation]] = MappingProxyType({
    r"T(\d+)": x_translations,  # T<n>: x-translations by W/n pixels
})


def group_names() -> tuple[str, ...]:
    """The registered names, in registration order (the paper's first); the families (T<n>) come on top."""
    return tuple(GROUPS)


def _size(size) -> tuple[int, int]:
    """(H, W) from a side s or a pair (H, W) of positive ints."""
    hw = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
    if len(hw) != 2 or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1 for s in hw):
        raise ValueError(f"an image size is a side s or (H, W) of positive ints; got {size!r}")
    return int(hw[0]), int(hw[1])


def image_group(name: str, size: int | tuple[int, int] = 36) -> EventGroup:
    """The registered group ``name`` (any case; or T<n>) on H x W images (``size`` = s or (H, W); default 36 x 36).

    Unknown names list the registered ones; a group that cannot act on this size says why in one line.
    """
    if not isinstance(name, str):
        raise TypeError(f"an image group name is one of the strings {', '.join(map(repr, GROUPS))}; "
                        f"got {type(name).__name__}")
    h, w = _size(size)
    key = name.upper()
    factory = GROUPS.get(key)
    if factory is not None:
        return acting_on(factory(h, w), "image", (h, w))
    for pattern, family in FAMILIES.items():
        m = re.fullmatch(pattern, key)
        if m:
            return acting_on(family(h, w, *map(int, m.groups())), "image", (h, w))
    raise ValueError(f"unknown image group {name!r}; known groups: {', '.join(GROUPS)} and T<n> (x-translations "
                     f"by W/n pixels) (register a new one in empirical/measure/groups.py)")
