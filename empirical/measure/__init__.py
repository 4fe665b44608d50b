"""The instrument: finite groups acting on tensors, and invariance (LI, DI, NLI), saliency invariance (SI) and
input sensitivity (sigma_max of the Jacobian) as pure functions of a model; the invariance loss, layer-wise
invariance and the Lie derivative of a continuous transformation. Imports torch and theory only.

events.py (what a group acts on) <- groups.py (the registry) <- image_groups.py (actions, orbits, checks);
outputs.py (checked logits, the audit); invariance.py, attribution.py, sensitivity.py (the paper's
metrics); loss.py (the regularizer); layers.py (per layer); lie.py (continuous transformations); first_layer.py
(the affine first layer of any module, for integrated gradients); audit.py (one batch of an audit, the verdict)."""
