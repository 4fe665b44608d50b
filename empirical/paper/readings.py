"""Readings of the choices the paper leaves open in its metrics (Sec. 3.2, 4.1, 4.4), as pure tensor functions.

A *reading* fixes every open choice of a metric; the first option of each choice is ours (the
library's default, ``empirical.measure.attribution`` / ``empirical.measure.invariance`` / ``empirical.measure.sensitivity``).
SI (Eq. 3 with the m_f of Sec. 4.1) has eight open choices:

- baseline of integrated gradients: ``black`` (the black image in normalized space, ``ds.black``; ours),
  ``zero`` (0.0, the zero of the normalized input: the training set's mean pixel), ``mean`` (the training
  set's mean image; the caller passes it group-averaged, the mean of the augmented data);
  the transformed sample g x is always attributed against g b, as the library does;
- target class: ``label`` (ours), ``pred_x`` (argmax f(x) for every orbit element), ``pred_gx`` (argmax f(g x));
- magnitude: ``abs`` (|IG|, ours; the paper "accumulates absolute values") or ``signed`` (IG; the threshold
  then keeps the pixels whose |IG| reaches 0.9 of the maximum |IG|, with their sign);
- threshold scope: ``map`` (0.9 x the map's own maximum, ours) or ``orbit`` (0.9 x the maximum over the
  sample's whole orbit, so an orbit element whose saliency is weak keeps no pixel);
- order: ``threshold_smooth`` (ours, the order the paper lists) or ``smooth_threshold``;
- smoothing boundary: ``wrap`` (ours), ``constant`` (zeros) or ``reflect`` (scipy's default);
- kernel size: 3 (ours, the paper's) or 5 (sigma 1 in both);
- reduction over the orbit: ``mean_nonid`` (mean over g != e, ours), ``mean_all`` (mean over all g),
  ``sum_all`` (Eq. 3 literally: sum over all g; the identity term is 1).

IG is the costly step and depends only on (baseline, target): :func:`orbit_attributions` computes it
once per pair; :func:`saliency_maps` and :func:`orbit_cosines` post-process the stored maps for every
other choice (cheap tensor ops). LI and DI have the reduction choice only (:func:`invariance_readings`,
from orbit logits computed once); sigma_max(J) of Fig. 5 has the output (logits / softmax / log-softmax),
the input scale (normalized / raw [0, 1] pixels, a fixed rescale by 1/std) and the aggregation over
samples (mean / median / max; :func:`jacobian_readings`, :func:`aggregate`).

SI's fragility (:func:`surviving_pixels`, :func:`peak_agreement`, :func:`rank_correlation`) and two
steadier similarities (:data:`STABLE_SI`: the cosine of the smoothed |IG| without the threshold, the
Spearman correlation of the |IG| maps) work on the same stored orbit attributions.
"""

from __future__ import annotations

import itertools
import math
from typing import Callable, Mapping

import torch
from torch import Tensor

from empirical.measure.attribution import gaussian_smooth, integrated_gradients, saliency_cosine
from empirical.measure.image_groups import as_image_group, inverse_act, orbit
from empirical.measure.invariance import invariance_from_logits
from empirical.measure.sensitivity import jacobian_sigma_max
from theory.groups import Representation

__all__ = [
    "SI_CHOICES", "OURS", "IG_CHOICES", "REDUCTIONS", "ERROR_FORMS", "JACOBIAN_CHOICES", "OURS_JACOBIAN",
    "STABLE_SI", "INVARIANT_TOL", "reading_key", "parse_key", "one_at_a_time", "product", "invariant_value",
    "breaks_invariance",
    "orbit_targets", "orbit_attributions", "saliency_maps", "orbit_cosines", "reduce_orbit", "si_readings",
    "invariance_terms", "invariance_readings", "jacobian_readings", "aggregate",
    "surviving_pixels", "peak_agreement", "rank_correlation", "stable_similarities",
]

# Every open choice of SI and its options; the first option is ours. The key order is the order of reading keys.
SI_CHOICES: dict[str, tuple] = {
    "baseline": ("black", "zero", "mean"),
    "target": ("label", "pred_x", "pred_gx"),
    "magnitude": ("abs", "signed"),
    "threshold": ("map", "orbit"),
    "order": ("threshold_smooth", "smooth_threshold"),
    "boundary": ("wrap", "constant", "reflect"),
    "kernel": (3, 5),
    "reduction": ("mean_nonid", "mean_all", "sum_all"),
}
OURS = {c: options[0] for c, options in SI_CHOICES.items()}
IG_CHOICES = ("baseline", "target")  # the choices that need a fresh integrated-gradients pass
REDUCTIONS = SI_CHOICES["reduction"]
ERROR_FORMS = ("LI", "DI")
JACOBIAN_CHOICES: dict[str, tuple] = {
    "output": ("logits", "softmax", "log_softmax"),
    "input": ("normalized", "raw"),
    "aggregate": ("mean", "median", "max"),
}
OURS_JACOBIAN = {c: options[0] for c, options in JACOBIAN_CHOICES.items()}
STABLE_SI = ("soft_cosine", "spearman")
# Round-off an exactly invariant model (WT) may show in each metric: float32 IG maps of the orbit differ in their
# last bits (the first layer sums the permuted pixels in another order), which can flip a pixel at the threshold.
INVARIANT_TOL = {"SI": 1e-3, "LI": 1e-6, "DI": 1e-6}
LEVEL = 0.9  # the paper's threshold: values below 0.9 of the maximum are set to 0
SIGMA = 1.0  # the paper's Gaussian standard deviation
_MAX_BATCH = 8192  # rows per IG forward/backward, as in empirical.measure.attribution


def reading_key(reading: Mapping, choices: Mapping[str, tuple] = SI_CHOICES) -> str:
    """The reading as one string, its options joined by '/' in the order of ``choices`` (e.g. 'black/label/...')."""
    return "/".join(str(reading[c]) for c in choices)


def parse_key(key: str, choices: Mapping[str, tuple] = SI_CHOICES) -> dict:
    """The reading dict of a :func:`reading_key` string (options typed as in ``choices``)."""
    values = key.split("/")
    if len(values) != len(choices):
        raise ValueError(f"a reading key has {len(choices)} parts ({'/'.join(choices)}); got {key!r}")
    out = {}
    for (c, options), v in zip(choices.items(), values):
        match = [o for o in options if str(o) == v]
        if not match:
            raise ValueError(f"unknown option {v!r} of {c}; choose one of {', '.join(map(str, options))}")
        out[c] = match[0]
    return out


def one_at_a_time(choices: Mapping[str, tuple] = SI_CHOICES) -> list[tuple[str, object, dict]]:
    """(choice, option, reading) for every non-default option, the other choices at ours (first options)."""
    ours = {c: o[0] for c, o in choices.items()}
    return [(c, o, {**ours, c: o}) for c, options in choices.items() for o in options[1:]]


def product(choices: Mapping[str, tuple] = SI_CHOICES) -> list[dict]:
    """Every reading of the full product of ``choices`` (ours first)."""
    return [dict(zip(choices, values)) for values in itertools.product(*choices.values())]


def invariant_value(metric: str, reduction: str, order: int) -> float:
    """What an exactly invariant model must score: SI 1 (|G| for the literal sum over all g), LI = DI = 0."""
    if metric == "SI":
        return float(order) if reduction == "sum_all" else 1.0
    return 0.0


def breaks_invariance(metric: str, value: float | None, reduction: str, order: int,
                      tol: Mapping[str, float] = INVARIANT_TOL) -> bool:
    """Whether an exactly invariant model's ``value`` under a reading misses :func:`invariant_value` by more than
    round-off (``tol[metric]``, relative to the value when it exceeds 1); a missing or NaN value counts as broken."""
    target = invariant_value(metric, reduction, order)
    if value is None or not math.isfinite(value):
        return True
    return abs(value - target) > tol[metric] * max(1.0, abs(target))


def orbit_targets(f: Callable[[Tensor], Tensor], x: Tensor, group: Representation | str, kind: str,
                  labels: Tensor | None = None) -> Tensor:
    """Target class of each orbit element, (|G|, N): the label, argmax f(x), or argmax f(g x) (``kind``)."""
    rep = as_image_group(group, x)
    k, n = rep.order, x.shape[0]
    if kind == "label":
        if labels is None:
            raise ValueError("target 'label' needs the labels (N,)")
        return labels.long().reshape(1, n).expand(k, n)
    with torch.no_grad():
        if kind == "pred_x":
            return f(x).argmax(-1).reshape(1, n).expand(k, n)
        if kind == "pred_gx":
            return f(orbit(rep, x).reshape(k * n, *x.shape[1:])).argmax(-1).reshape(k, n)
    raise ValueError(f"unknown target {kind!r}; choose one of {', '.join(SI_CHOICES['target'])}")


def orbit_attributions(f: Callable[[Tensor], Tensor], x: Tensor, group: Representation | str, target: Tensor,
                       baseline: float | Tensor = 0.0, steps: int = 50, max_batch: int = _MAX_BATCH) -> Tensor:
    """Signed IG of every orbit element against the transformed baseline, IG(g x; g b), (|G|, N, *x.shape[1:]).

    target: (N,) or (|G|, N) classes. The same call as ``attribution.saliency_invariance`` makes (bit for bit).
    """
    rep = as_image_group(group, x)
    k, n = rep.order, x.shape[0]
    t = torch.as_tensor(target, device=x.device).long()
    t = (t.repeat(k) if t.dim() == 1 else t.reshape(k * n))
    b = torch.as_tensor(baseline, dtype=x.dtype, device=x.device).broadcast_to(x.shape)
    xs = orbit(rep, x).reshape(k * n, *x.shape[1:])
    bs = orbit(rep, b).reshape(k * n, *x.shape[1:])
    return integrated_gradients(f, xs, t, bs, steps, max_batch).reshape(k, n, *x.shape[1:])


def _pixel_maps(a: Tensor) -> Tensor:
    """Attributions (|G|, N, ...) as per-pixel maps (|G|, N, H, W): channels summed, square flat images reshaped."""
    if a.dim() == 5:
        return a.sum(2)
    if a.dim() == 4:
        return a
    if a.dim() == 3 and math.isqrt(a.shape[-1]) ** 2 == a.shape[-1]:
        s = math.isqrt(a.shape[-1])
        return a.reshape(*a.shape[:2], s, s)
    raise ValueError(f"orbit attributions must be (|G|, N, C, H, W), (|G|, N, H, W) or (|G|, N, s*s); "
                     f"got shape {tuple(a.shape)}")


def _cut(m: Tensor, scope: str, level: float) -> Tensor:
    """Zero the pixels of m (|G|, N, H, W) whose |value| is below level x the maximum |value| of the map / orbit."""
    mag = m.abs()
    if scope == "map":
        peak = mag.amax(dim=(-2, -1), keepdim=True)
    elif scope == "orbit":
        peak = mag.amax(dim=(0, -2, -1), keepdim=True)
    else:
        raise ValueError(f"unknown threshold scope {scope!r}; choose one of {', '.join(SI_CHOICES['threshold'])}")
    return torch.where(mag < level * peak, torch.zeros_like(m), m)


def saliency_maps(ig: Tensor, magnitude: str = "abs", threshold: str = "map", order: str = "threshold_smooth",
                  boundary: str = "wrap", kernel: int = 3, level: float = LEVEL, sigma: float = SIGMA) -> Tensor:
    """m_f of Sec. 4.1 under a reading, from orbit attributions ig (|G|, N, ...) -> (|G|, N, H, W).

    At ours (abs, map, threshold_smooth, wrap, 3) equal to ``attribution.saliency_map``; ``level=0`` skips the
    threshold. A map whose attribution has a non-finite value is NaN.
    """
    if magnitude not in SI_CHOICES["magnitude"]:
        raise ValueError(f"unknown magnitude {magnitude!r}; choose one of {', '.join(SI_CHOICES['magnitude'])}")
    m = _pixel_maps(ig.abs() if magnitude == "abs" else ig)
    if order == "threshold_smooth":
        m = gaussian_smooth(_cut(m, threshold, level), kernel, sigma, boundary)
    elif order == "smooth_threshold":
        m = _cut(gaussian_smooth(m, kernel, sigma, boundary), threshold, level)
    else:
        raise ValueError(f"unknown order {order!r}; choose one of {', '.join(SI_CHOICES['order'])}")
    finite = torch.isfinite(ig.flatten(2)).all(-1)[..., None, None]
    return torch.where(finite, m, m.new_full((), float("nan")))


def _realign(rep: Representation, maps: Tensor) -> Tensor:
    """g^{-1} maps[g] for every g, (|G|, N, H, W): each orbit element back in x's orientation."""
    return torch.stack([inverse_act(rep, maps[g], g) for g in range(rep.order)])


def orbit_cosines(maps: Tensor, group: Representation | str) -> Tensor:
    """cos(m(x), g^{-1} m(g x)) for every g, (|G|, N), from orbit maps (|G|, N, H, W); row 0 is 1 (Eq. 3's terms)."""
    rep = as_image_group(group)
    return saliency_cosine(maps[0], _realign(rep, maps))


def reduce_orbit(terms: Tensor, reduction: str, trivial: float = 0.0) -> Tensor:
    """Orbit terms (|G|, N) -> (N,): mean over g != e (ours), mean over all g, or sum over all g (Eq. 1-3 literally).

    ``trivial`` is the value of "mean over g != e" for the trivial group (1 for SI, 0 for errors); NaN stays NaN.
    """
    if reduction == "mean_all":
        return terms.mean(0)
    if reduction == "sum_all":
        return terms.sum(0)
    if reduction != "mean_nonid":
        raise ValueError(f"unknown reduction {reduction!r}; choose one of {', '.join(REDUCTIONS)}")
    if terms.shape[0] == 1:
        nan = terms[0].isnan()
        return torch.where(nan, terms[0], torch.full_like(terms[0], trivial))
    return terms[1:].mean(0)


def si_readings(f: Callable[[Tensor], Tensor], x: Tensor, group: Representation | str, labels: Tensor,
                baselines: Mapping[str, float | Tensor], steps: int = 50, choices: Mapping[str, tuple] | None = None,
                max_batch: int = _MAX_BATCH) -> dict[str, Tensor]:
    """SI per sample (N,) under every reading of the product of ``choices`` (default all of :data:`SI_CHOICES`).

    x (N, ...), labels (N,); ``baselines`` maps each baseline option to its value (a float or a tensor
    broadcasting to x). IG is computed once per (baseline, target), the rest on the stored maps.
    Keys are :func:`reading_key` strings; at :data:`OURS` it equals ``attribution.saliency_invariance``.
    """
    choices = {**SI_CHOICES, **(choices or {})}
    rep = as_image_group(group, x)
    post = {c: choices[c] for c in ("magnitude", "threshold", "order", "boundary", "kernel")}
    out = {}
    for base in choices["baseline"]:
        for target in choices["target"]:
            t = orbit_targets(f, x, rep, target, labels)
            ig = orbit_attributions(f, x, rep, t, baselines[base], steps, max_batch)
            for p in product(post):
                cos = orbit_cosines(saliency_maps(ig, **p), rep)
                for r in choices["reduction"]:
                    reading = {"baseline": base, "target": target, **p, "reduction": r}
                    out[reading_key(reading, choices)] = reduce_orbit(cos, r, trivial=1.0)
    return out


def invariance_terms(z: Tensor, form: str) -> Tensor:
    """The error of every orbit element against x, (|G|, N), from orbit logits z (|G|, N, K); row 0 is 0 (Eq. 1-2)."""
    return torch.stack([invariance_from_logits(z[[0, g]], form) for g in range(z.shape[0])])


def invariance_readings(z: Tensor, forms: tuple[str, ...] = ERROR_FORMS) -> dict[str, Tensor]:
    """LI and DI per sample (N,) under every reduction, keyed '<form>/<reduction>', from orbit logits z (|G|, N, K)."""
    out = {}
    for form in forms:
        terms = invariance_terms(z, form)
        for r in REDUCTIONS:
            out[f"{form}/{r}"] = reduce_orbit(terms, r, trivial=0.0)
    return out


_OUTPUTS: dict[str, Callable[[Tensor], Tensor]] = {
    "logits": lambda z: z,
    "softmax": lambda z: z.softmax(-1),
    "log_softmax": lambda z: z.log_softmax(-1),
}


def jacobian_readings(f: Callable[[Tensor], Tensor], x: Tensor, std: float, chunk_size: int = 256
                      ) -> dict[str, Tensor]:
    """sigma_max(J) per sample (N,) keyed '<output>/<input>' (Sec. 4.4): J of logits / softmax / log-softmax
    with respect to the normalized input x (N, ...) or to raw [0, 1] pixels p, x = (p - mean) / std, i.e. J / std."""
    out = {}
    for name, head in _OUTPUTS.items():
        s = jacobian_sigma_max(lambda v, head=head: head(f(v)), x, chunk_size)
        out[f"{name}/normalized"] = s
        out[f"{name}/raw"] = s / std
    return out


def aggregate(values: Tensor, how: str) -> float:
    """A per-sample metric (N,) as one number: mean (ours), median (torch's lower median) or max over samples."""
    if how == "mean":
        return values.mean().item()
    if how == "median":
        return values.median().item()
    if how == "max":
        return values.max().item()
    raise ValueError(f"unknown aggregation {how!r}; choose one of {', '.join(JACOBIAN_CHOICES['aggregate'])}")


def surviving_pixels(ig: Tensor, level: float = LEVEL) -> Tensor:
    """Pixels of each map that survive the threshold, (|G|, N): nonzero |IG| >= level x the map's maximum."""
    m = _pixel_maps(ig.abs())
    peak = m.amax(dim=(-2, -1), keepdim=True)
    return ((m >= level * peak) & (m > 0)).flatten(-2).sum(-1)


def peak_agreement(ig: Tensor, group: Representation | str) -> Tensor:
    """Whether argmax g^{-1} |IG|(g x) is argmax |IG|(x), (|G| - 1, N) bool, from orbit attributions (|G|, N, ...)."""
    rep = as_image_group(group)
    peak = _realign(rep, _pixel_maps(ig.abs())).flatten(-2).argmax(-1)
    return peak[1:] == peak[:1]


def _average_ranks(v: Tensor) -> Tensor:
    """Ranks 0..P-1 along the last dim of v (..., P), ties given their average rank (as scipy's rankdata - 1)."""
    s, idx = v.sort(-1)
    p = v.shape[-1]
    pos = torch.arange(p, device=v.device).expand_as(s)
    new = torch.ones_like(s, dtype=torch.bool)
    new[..., 1:] = s[..., 1:] != s[..., :-1]
    gid = new.long().cumsum(-1) - 1
    first = torch.full_like(pos, p).scatter_reduce(-1, gid, pos, "amin")
    last = torch.zeros_like(pos).scatter_reduce(-1, gid, pos, "amax")
    avg = (first.gather(-1, gid) + last.gather(-1, gid)).to(v.dtype) / 2
    return torch.empty_like(avg).scatter_(-1, idx, avg)


def rank_correlation(a: Tensor, b: Tensor, mask: Tensor | None = None) -> Tensor:
    """Spearman correlation of maps a, b (..., H, W) -> (...), over the pixels where ``mask`` (broadcasting) is True
    (all by default); ties get their average rank. 0 where either map is constant there, NaN where either has a NaN."""
    a, b = a.flatten(-2), b.flatten(-2)
    shape = torch.broadcast_shapes(a.shape, b.shape)
    a, b = a.expand(shape), b.expand(shape)
    keep = torch.ones(shape, dtype=torch.bool, device=a.device) if mask is None else mask.flatten(-2).expand(shape)
    finite = torch.isfinite(a).all(-1) & torch.isfinite(b).all(-1)
    # pixels outside the mask rank below every kept one (a constant shift of the kept ranks), then drop out
    low = torch.tensor(-float("inf"), dtype=a.dtype, device=a.device)
    ok = keep & finite[..., None]
    ra, rb = _average_ranks(torch.where(ok, a, low)), _average_ranks(torch.where(ok, b, low))
    w = keep.to(a.dtype)
    count = w.sum(-1, keepdim=True).clamp_min(1)
    ra = (ra - (ra * w).sum(-1, keepdim=True) / count) * w
    rb = (rb - (rb * w).sum(-1, keepdim=True) / count) * w
    denom = ra.norm(dim=-1) * rb.norm(dim=-1)
    zero = torch.zeros((), dtype=a.dtype, device=a.device)
    r = torch.where(denom > 0, (ra * rb).sum(-1) / denom.clamp_min(torch.finfo(denom.dtype).tiny), zero)
    return torch.where(finite, r, r.new_full((), float("nan")))


def stable_similarities(ig: Tensor, group: Representation | str) -> dict[str, Tensor]:
    """Two steadier SI variants per sample (N,), mean over g != e: 'soft_cosine' (cosine of the smoothed |IG|
    without the threshold, ours otherwise) and 'spearman' (rank correlation of the realigned |IG| maps over the
    pixels where either is nonzero: the attributed support, so that the background's zeros do not count as agreement)."""
    rep = as_image_group(group)
    soft = reduce_orbit(orbit_cosines(saliency_maps(ig, level=0.0), rep), "mean_nonid", trivial=1.0)
    aligned = _realign(rep, _pixel_maps(ig.abs()))
    support = (aligned[:1] != 0) | (aligned != 0)
    rank = reduce_orbit(rank_correlation(aligned[:1], aligned, support), "mean_nonid", trivial=1.0)
    return {"soft_cosine": soft, "spearman": rank}
