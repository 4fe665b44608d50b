"""Events: the shape a group acts on, declared once, carried by the group (paper Sec. 3.1: rho(g) x).

A group acts on one *event* per sample: an H x W image, a length-L signal, P points in D dimensions or a
flat d-vector. :class:`Event` names the kind and the shape; :class:`EventGroup` is a
``theory.groups.Representation`` (an immutable value, emlp / jaxlie style) that also knows its event, so
every consumer of a representation (the theory, the data, the trainers) takes it unchanged, and the
metrics never have to guess which dims of x the group acts on. Orbits and actions stay pure functions of
the group (``empirical.measure.image_groups``).

Layouts of a batch x for an event of shape S with d = prod(S) entries (the group acts on the event dims
of every leading channel alike):

  (N, *C, *S)   any number C of channel dims (none, (C,), (C1, C2), ...), e.g. (N, 3, 28, 20) images;
  (N, d)        the event flattened row-major (C-order), for the multi-dim events (images, points).

An undeclared ``Representation`` is resolved by :func:`event_for` with one rule: x (N, d) is a flat
vector; x (N, *C, H, W) with H * W = d is an H x W image (the paper's pixel groups). Signals with
channels and point sets are declared with :func:`acting_on`; nothing is inferred from whether d is a
perfect square.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from theory.groups import Representation

__all__ = ["EVENT_KINDS", "Event", "EventGroup", "acting_on", "event_for", "describe"]

EVENT_KINDS = ("image", "signal", "points", "vector")
_NDIM = {"image": 2, "signal": 1, "points": 2, "vector": 1}
_UNITS = {"image": "pixels", "signal": "samples", "points": "coordinates", "vector": "entries"}


@dataclass(frozen=True)
class Event:
    """What one sample is to a group: ``kind`` in :data:`EVENT_KINDS` and its ``shape``.

    image (H, W); signal (L,); points (P, D); vector (d,). ``size`` = prod(shape) = the group's dim.
    """

    kind: str
    shape: tuple[int, ...]

    def __post_init__(self):
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {self.kind!r}; choose one of {', '.join(EVENT_KINDS)}")
        shape = tuple(self.shape) if isinstance(self.shape, (tuple, list)) else (self.shape,)
        if len(shape) != _NDIM[self.kind] or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1
                                                      for s in shape):
            want = {"image": "(H, W)", "signal": "(L,)", "points": "(P, D)", "vector": "(d,)"}[self.kind]
            raise ValueError(f"a {self.kind} event has shape {want} of positive ints; got {self.shape!r}")
        object.__setattr__(self, "shape", shape)

    @property
    def size(self) -> int:
        """d = prod(shape): the number of entries the group permutes or mixes."""
        return math.prod(self.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __str__(self) -> str:
        if self.kind == "image":
            return f"{self.shape[0]}x{self.shape[1]} images"
        if self.kind == "signal":
            return f"length-{self.shape[0]} signals"
        if self.kind == "points":
            return f"{self.shape[0]} points in {self.shape[1]} dimensions"
        return f"{self.shape[0]}-vectors"

    def layouts(self) -> str:
        """The batch shapes a metric accepts, e.g. '(N, 1296), (N, 36, 36) or (N, C, 36, 36)'."""
        s = ", ".join(map(str, self.shape))
        if self.ndim == 1:
            return f"(N, {s}) or (N, C, {s})"
        return f"(N, {self.size}), (N, {s}) or (N, C, {s})"


@dataclass(frozen=True, eq=False)
class EventGroup(Representation):
    """A representation that knows its event: ``rho(g)`` acts on the flattened ``event`` of every sample."""

    event: Event = field(default=None, kw_only=True)

    def __post_init__(self):
        if not isinstance(self.event, Event):
            raise TypeError(f"{self.name}: an EventGroup needs its event (an Event); got {self.event!r}")
        if self.event.size != self.dim:
            raise ValueError(f"{self.name} acts on R^{self.dim}, but {self.event} have {self.event.size} entries")


def acting_on(rep: Representation, kind: str, shape: int | tuple[int, ...] | None = None) -> EventGroup:
    """``rep`` declared to act on events of ``kind`` and ``shape`` (default (rep.dim,) for signals and vectors).

    E.g. ``acting_on(theory.groups.cyclic_shift(16), "signal")``, ``acting_on(rep, "points", (8, 2))``,
    ``acting_on(rep, "image", (28, 20))``. The permutations / matrices are shared, not copied.
    """
    if not isinstance(rep, Representation):
        raise TypeError(f"acting_on needs a theory.groups.Representation; got {type(rep).__name__}")
    event = Event(kind, (rep.dim,) if shape is None else shape)
    return EventGroup(name=rep.name, perms=rep.perms, _matrices=rep._matrices, event=event)


def describe(rep: Representation) -> str:
    """'R4[36x36] acts on 1296 pixels (36x36 images)'; 'C16 acts on R^16 (no declared event)' if undeclared."""
    if isinstance(rep, EventGroup):
        return f"{rep.name} acts on {rep.dim} {_UNITS[rep.event.kind]} ({rep.event})"
    return f"{rep.name} acts on R^{rep.dim} (no declared event)"


def _fits(event: Event, shape: tuple[int, ...]) -> bool:
    """Whether a batch of this shape is (N, *C, *event.shape) or, for a multi-dim event, (N, event.size)."""
    if len(shape) >= 1 + event.ndim and tuple(shape[len(shape) - event.ndim:]) == event.shape:
        return True
    return len(shape) == 2 and shape[1] == event.size


def event_for(rep: Representation, shape: tuple[int, ...]) -> EventGroup:
    """The EventGroup a metric acts with on a batch of this shape; ValueError (one line) if it does not fit.

    An EventGroup must fit its declared event. An undeclared representation of dim d is a d-vector for
    x (N, d) and an H x W image for x (N, *C, H, W) with H * W = d; any other shape is refused with the
    declaration to write instead.
    """
    shape = tuple(shape)
    if isinstance(rep, EventGroup):
        if _fits(rep.event, shape):
            return rep
        raise ValueError(f"{describe(rep)}; got x of shape {shape}. Pass a batch x of shape {rep.event.layouts()}, "
                         f"or build the group for your shape (image_group(name, (H, W)) or acting_on(rep, kind, "
                         f"shape))")
    if len(shape) == 2 and shape[1] == rep.dim:
        return acting_on(rep, "vector")
    if len(shape) >= 3 and shape[-2] * shape[-1] == rep.dim:
        return acting_on(rep, "image", tuple(shape[-2:]))
    raise ValueError(f"{describe(rep)}; got x of shape {shape}. Pass a batch x of shape (N, {rep.dim}) (a vector) or "
                     f"(N, ..., H, W) with H * W = {rep.dim} (an image), or declare what it acts on: "
                     f"acting_on(rep, 'signal' | 'points' | 'image' | 'vector', shape)")
