"""Invariance regularization as a loss (paper Eq. 4): L = CE(f(x), y) + nu * I_f(x), I_f in LI, DI or NLI.

:func:`invariance_loss` is the regularizer I_f of Eq. 4 for a training loop: the same formula as the
metrics (``empirical.measure.invariance.orbit_invariance``: one forward of f on the stacked orbit,
invariance_from_logits over g != e), averaged over the batch, differentiable. Unlike the metrics it runs f
as it is: in train mode a BatchNorm sees the |G| N orbit batch and updates its statistics, as any training
forward would. On a model in eval mode its value is the metric's mean, bit for bit.

    for x, y in loader:
        loss = F.cross_entropy(model(x), y) + nu * invariance_loss(model, x, "R4", form="LI")
        opt.zero_grad(); loss.backward(); opt.step()

The trainer of the paper's runs (``empirical.engine.training``) calls ``invariance_from_logits`` on its own
stacked orbit logits: the same formula. A sample with a non-finite input or orbit logit makes the loss NaN
(never a plausible number); its gradient reaches no other sample.
"""

from __future__ import annotations

from typing import Callable

from torch import Tensor

from empirical.measure.invariance import orbit_invariance
from empirical.measure.outputs import Output
from theory.groups import Representation

__all__ = ["invariance_loss"]


def invariance_loss(f: Callable[[Tensor], Tensor], x: Tensor, group: Representation | str, form: str = "LI",
                    output: Output = None, reduction: str = "mean") -> Tensor:
    """I_f(x) of Eq. 4 as a scalar loss: (1/N) sum_n err_form(x_n), err averaged over g != e (Eq. 1, 2, Sec. 4.4).

    x (N, ...) a batch the group acts on; form "LI" (1/2 ||f(x) - f(gx)||^2), "DI" (KL(softmax f(x) ||
    softmax f(gx))) or "NLI" (||f(x) - f(gx)||^2 / ||f(x)||^2); ``output`` picks the logits as in the
    metrics; ``reduction`` over the group as in the metrics ("sum": Eq. 1-2 literally). Returns a 0-dim tensor
    with the graph to f's parameters.
    """
    return orbit_invariance(f, x, group, form, reduction, output).mean()
