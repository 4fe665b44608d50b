"""Genuine invariance, measured: the paper's metrics as pure functions of any model, batch and group.

    from empirical import logit_invariance, distribution_invariance, saliency_invariance, jacobian_sigma_max
    from empirical import image_group, acting_on, invariance_loss, layer_invariance, lie_derivative

Every metric is ``metric(model, x, group, ...) -> per-sample tensor``, detached, with the model left as it
was (eval mode during the call; modes and buffers restored). Groups know the event they act on
(``image_group("F2", (28, 20))``, ``acting_on(rep, "signal")``); logits are (N, K) or (N, K, 1, ..., 1), or
picked by ``output=``.

The layers below (each imports only those under it): ``measure`` (groups acting on tensors and the
metrics), ``data`` (IDX files, Transforming datasets), ``engine`` (models, training, the run store),
``paper`` (the experiment grid, claims, tables and plots); the commands (``python -m empirical.table1`` ...)
sit on top.
"""

from empirical.measure.attribution import integrated_gradients, saliency_invariance
from empirical.measure.events import Event, EventGroup, acting_on
from empirical.measure.image_groups import image_group
from empirical.measure.invariance import (distribution_invariance, invariance, logit_invariance,
                                          normalized_logit_invariance)
from empirical.measure.layers import layer_invariance
from empirical.measure.lie import lie_derivative, rotate, translate
from empirical.measure.loss import invariance_loss
from empirical.measure.sensitivity import VmapFallbackWarning, jacobian_sigma_max

__all__ = ["logit_invariance", "distribution_invariance", "normalized_logit_invariance", "invariance",
           "saliency_invariance", "integrated_gradients", "jacobian_sigma_max", "VmapFallbackWarning",
           "image_group", "acting_on", "Event", "EventGroup", "invariance_loss", "layer_invariance",
           "lie_derivative", "rotate", "translate"]
