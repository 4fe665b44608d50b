"""The instrument: finite groups acting on tensors, and invariance (LI, DI, NLI), saliency invariance (SI) and
input sensitivity (sigma_max of the Jacobian) as pure functions of a model. Imports torch and theory only."""
