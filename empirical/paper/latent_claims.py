"""Figure 2's claim judged from fig2_latent.json: the criterion, fixed before any full-scale output existed.

The paper (Sec. 4.2, Figure 2): "In the DA model's penultimate layer, different orientations of one
sample land far apart, though within their class." The paper shows it in t-SNE coordinates; t-SNE
distorts distances, so the criterion reads the numbers that ``python -m empirical.latent`` measures
in the representation space itself (``empirical.measure.representations.latent_geometry``), mean over seeds.

Criterion, per group; the claim holds for a group when all four parts hold:

1. Far apart: DA's ``spread_over_same_class`` > 1. The mean distance between two orientations of
   one sample exceeds the mean distance from an orientation to the nearest same-class sample of
   another orbit. 1 is the scale-free boundary: above it a sample's own orbit is not a cluster,
   its orientations are farther from each other than from their class neighbours.
2. Not each other's neighbours: DA's ``same_orbit_nn`` < 0.5. For most orientations the nearest
   pooled representation belongs to another sample (an invariant model gives 1; orbit members
   scattered at random over their class give about (|G| - 1) / (|G| * class size), near 0).
3. Within their class: DA's ``class_agreement`` >= 0.8. At least 80 % of the orientations have a
   nearest other-orbit neighbour of their own class. Chance is about 1/9; the paper's DA models
   classify 94-96 % of the test set correctly (Table 1), so a class-structured penultimate layer
   should clear 0.8 with margin, while a layer that mixes classes locally (< 0.8) does not put the
   orientations "within their class".
4. Control, the measurement sees genuine invariance: WT's ``spread_over_same_class`` < 1e-3. WT is
   invariant by construction; float32 round-off (its first layer sums the rotated pixels in another
   order per orientation) gives about 1e-6, while any real non-invariance is O(0.1-1). Without this
   part a bug that scatters every orbit would also "confirm" the claim.

IR's numbers are reported beside DA's and WT's in the evidence but not judged: the paper makes no
latent-space statement about IR. Verdicts: 'holds', 'fails', 'holds only for <groups>' (as
``empirical.report``), 'not measured' without the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from empirical.paper.verdicts import judge

__all__ = ["LATENT_OUTPUT", "STATEMENT", "FAR_APART", "SAME_ORBIT_NN_MAX", "CLASS_AGREEMENT_MIN", "WT_SPREAD_MAX",
           "latent_verdict", "latent_finding", "latent_markdown"]

LATENT_OUTPUT = "fig2_latent.json"
FAR_APART = 1.0  # DA: orbit spread / nearest same-class distance must exceed this
SAME_ORBIT_NN_MAX = 0.5  # DA: fraction of orientations whose nearest neighbour is in their own orbit, below this
CLASS_AGREEMENT_MIN = 0.8  # DA: fraction whose nearest other-orbit neighbour has their class, at least this
WT_SPREAD_MAX = 1e-3  # WT (control): orbit spread / nearest same-class distance, below this
STATEMENT = ("In the DA model's penultimate layer, different orientations of one sample land far apart, though within "
             f"their class (Figure 2; criterion, in the representation space: DA's orbit spread > {FAR_APART:g}x the "
             f"distance to the nearest same-class sample, same-orbit nearest-neighbour fraction < "
             f"{SAME_ORBIT_NN_MAX:g}, nearest-neighbour class agreement >= {CLASS_AGREEMENT_MIN:g}; control: WT's "
             f"spread < {WT_SPREAD_MAX:g} of that distance).")


def _v(model: dict[str, Any], key: str) -> float:
    return float(model[key][0])


def _group_test(entry: dict[str, Any]) -> tuple[bool, str]:
    """The criterion on one group's entry of fig2_latent.json: (holds, one line of evidence)."""
    m = entry["models"]
    missing = [name for name in ("DA", "WT") if "spread_over_same_class" not in m.get(name, {})]
    if missing:
        return False, f"{entry['group']}: no trained run of {', '.join(missing)} (every seed failed)"
    da, wt = m["DA"], m["WT"]
    ok = (_v(da, "spread_over_same_class") > FAR_APART and _v(da, "same_orbit_nn") < SAME_ORBIT_NN_MAX
          and _v(da, "class_agreement") >= CLASS_AGREEMENT_MIN and _v(wt, "spread_over_same_class") < WT_SPREAD_MAX)
    parts = [f"{name} spread/NN-same-class {_v(r, 'spread_over_same_class'):.3g}, same-orbit NN "
             f"{_v(r, 'same_orbit_nn'):.2f}, class agreement {_v(r, 'class_agreement'):.2f}"
             for name, r in m.items() if "spread_over_same_class" in r]
    return ok, f"{entry['group']}, {entry['n_pool']} samples x {entry['order']} orientations, " \
               f"{len(da['per_seed'])} seed(s): " + "; ".join(parts)


def latent_verdict(doc: dict[str, Any]) -> tuple[str, str] | None:
    """(verdict, evidence) of the Figure 2 claim from the contents of fig2_latent.json; None when it has no group."""
    entries = doc.get("groups") or []
    if not entries:
        return None
    res = {e["group"]: _group_test(e) for e in sorted(entries, key=lambda e: e["group"])}
    return judge({g: ok for g, (ok, _) in res.items()}), "; ".join(e for _, e in res.values())


def latent_finding(out_folder: Path) -> tuple[str, str]:
    """(verdict, evidence) from ``out_folder/fig2_latent.json``; ('not measured', how to run it) without it."""
    path = Path(out_folder) / LATENT_OUTPUT
    res = latent_verdict(json.loads(path.read_text())) if path.exists() else None
    return res or ("not measured", "run `python -m empirical.latent` first")


def latent_markdown(doc: dict[str, Any]) -> list[str]:
    """Figure 2's measured numbers as markdown lines: one row per group x model, mean ± std over seeds."""
    keys = ("spread_over_same_class", "spread_over_other_class", "same_orbit_nn", "class_agreement")
    lines = ["| G | model | spread / NN same class | spread / NN other class | same-orbit NN | NN class agreement |",
             "|---|---|---|---|---|---|"]
    for e in sorted(doc.get("groups", []), key=lambda e: e["group"]):
        for name, r in e["models"].items():
            if all(k in r for k in keys):
                cells = " | ".join(f"{r[k][0]:.3g} ± {r[k][1]:.2g}" for k in keys)
                lines.append(f"| {e['group']} | {name} | {cells} |")
    return lines
