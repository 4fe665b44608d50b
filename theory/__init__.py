"""Theory of invariance-error minimization: finite groups and gradient flows (numpy/scipy/sympy, no torch)."""
