"""Experiments of the paper on Transforming-MNIST / Transforming-FMNIST (torch); groups come from theory.groups."""
