"""THE group registry: the one place where a group's name becomes a ``theory.groups`` representation.

Every image group is a pixel permutation of the padded s x s image (s = 36), so the theory's claims,
the data, the trainers and the metrics all see the same object. A new group is one entry here
(a function of the grid side returning a ``Representation`` with ``perms``) plus a test; every CLI
reads its ``--groups`` choices from :data:`GROUPS`.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Callable, Mapping

from theory import groups
from theory.groups import Representation

__all__ = ["GROUPS", "group_names", "image_group"]

GROUPS: Mapping[str, Callable[[int], Representation]] = MappingProxyType({
    "R4": groups.rotations,  # rotations by k * 90 degrees (paper)
    "T3": lambda s: groups.translations(s, 3),  # cyclic x-translations by s / 3 pixels (paper)
    "D4": groups.square_symmetries,  # the 8 rotations and reflections of the square
    "F2": groups.flips,  # the horizontal reflection
})


def group_names() -> tuple[str, ...]:
    """The registered names, in registration order (the paper's first)."""
    return tuple(GROUPS)


def image_group(name: str, size: int = 36) -> Representation:
    """The registered group ``name`` (any case) on a size x size grid; unknown names list the registered ones."""
    if not isinstance(name, str):
        raise TypeError(f"an image group name is one of the strings {', '.join(map(repr, GROUPS))}; "
                        f"got {type(name).__name__}")
    factory = GROUPS.get(name.upper())
    if factory is None:
        raise ValueError(f"unknown image group {name!r}; known groups: {', '.join(GROUPS)} "
                         f"(register a new one in empirical/measure/groups.py)")
    return factory(size)
