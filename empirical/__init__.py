"""Genuine invariance, measured: the paper's metrics as pure functions of any model, batch and group.

    from empirical import logit_invariance, distribution_invariance, saliency_invariance, jacobian_sigma_max
    from empirical import image_group

The layers below (each imports only those under it): ``measure`` (groups acting on tensors and the
metrics), ``data`` (IDX files, Transforming datasets), ``engine`` (models, training, the run store),
``paper`` (the experiment grid, claims, tables and plots); the commands (``python -m empirical.table1`` ...)
sit on top.
"""

from empirical.measure.attribution import integrated_gradients, saliency_invariance
from empirical.measure.image_groups import image_group
from empirical.measure.invariance import (distribution_invariance, invariance, logit_invariance,
                                          normalized_logit_invariance)
from empirical.measure.sensitivity import jacobian_sigma_max

__all__ = ["logit_invariance", "distribution_invariance", "normalized_logit_invariance", "invariance",
           "saliency_invariance", "integrated_gradients", "jacobian_sigma_max", "image_group"]
