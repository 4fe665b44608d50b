"""The audit's report: reference points from the committed tables, the results document (JSON) and its Markdown.

References. The verdict places a model between the suite's own trained models of Table 1 (mean over 4 seeds,
full scale, Transforming-MNIST, 36x36): ``paper_figures/table1.json`` (the paper's MLP on R4 and T3),
``paper_figures/beyond/table1.json`` (the MLP on R4, T3, D4, F2) or ``beyond/table1_cnn.json`` (the patch CNN).
:func:`load_references` reads WT, IR and DA's mean LI, DI, NLI, SI and accuracy per group; a group without a row has
no reference (only exactness can be decided, ``empirical.measure.audit.VERDICT_RULE``).

:func:`results` turns the per-sample values of ``empirical.engine.auditing.run_batches`` into the document: per
group accuracy, orbit accuracy and agreement, LI / DI / NLI / SI as distributions and per class, the layer-wise
profile, the verdict; group-free sigma_max(J) and Lie derivatives. :func:`markdown` renders it; every number in it
is in the JSON.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

from torch import Tensor

from empirical.measure.audit import LOG_METRICS, VERDICT_RULE, distribution, per_class, verdict
from empirical.paper.numbers import fmt

__all__ = ["REFERENCE_SETS", "load_references", "results", "markdown", "finite_json"]

_ROOT = Path(__file__).resolve().parents[2] / "paper_figures"
REFERENCE_SETS = {"mlp": ("table1.json", "beyond/table1.json"), "cnn": ("beyond/table1_cnn.json",)}
_GROUP_METRICS = ("acc", "orbit_acc", "orbit_agree", "LI", "DI", "NLI", "SI")
_PER_CLASS = ("acc", "LI", "DI", "SI")
_BINARY = ("acc", "orbit_acc", "orbit_agree")  # 0 / 1 per sample: their mean (a percentage) is in the verdict table


def load_references(arch: str = "mlp", root: Path | None = None) -> tuple[dict[str, dict[str, dict]], list[str]]:
    """({group: {"WT" | "IR" | "DA": {acc, LI, DI, NLI, SI, nu}}}, the files read); empty where none exist."""
    root = _ROOT if root is None else Path(root)
    refs: dict[str, dict[str, dict]] = {}
    read = []
    for name in REFERENCE_SETS[arch]:
        path = root / name
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        read.append(str(Path("paper_figures") / name))
        for row in doc.get("rows", []):
            if row.get("model") not in ("WT", "IR", "DA") or row.get("group") in refs and \
                    row["model"] in refs[row["group"]]:
                continue
            means = {k: row[k][0] for k in ("LI", "DI", "NLI", "SI") if isinstance(row.get(k), list)}
            if len(means) == 4:
                refs.setdefault(row["group"], {})[row["model"]] = {**means, "acc": row["acc"][0] / 100.0,
                                                                   "nu": row.get("nu")}
    return {g: r for g, r in refs.items() if set(r) == {"WT", "IR", "DA"}}, read


def _lite(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "hist"}


def results(values: Mapping[str, Tensor], labels: Tensor | None, groups: list[str],
            refs: Mapping[str, Mapping[str, Mapping[str, float]]]) -> dict[str, Any]:
    """The audit's numbers from per-sample values (see the module docstring); pure."""
    out: dict[str, Any] = {"overall": {}, "groups": {}}
    for key, v in values.items():
        if "/" not in key:
            out["overall"][key] = distribution(v, log=key in LOG_METRICS)
    if labels is not None:
        out["overall_per_class"] = {k: per_class(values[k], labels) for k in ("acc", "sigma_max_J") if k in values}
    for g in groups:
        block: dict[str, Any] = {"metrics": {}, "per_class": {}, "layers": {}}
        for m in _GROUP_METRICS:
            if f"{g}/{m}" in values:
                block["metrics"][m] = distribution(values[f"{g}/{m}"], log=m in LOG_METRICS)
        if labels is not None:
            block["per_class"] = {m: per_class(values[f"{g}/{m}"], labels) for m in _PER_CLASS
                                  if f"{g}/{m}" in values}
        for key, v in values.items():
            if key.startswith(f"{g}/layer/"):
                block["layers"][key[len(f"{g}/layer/"):]] = _lite(distribution(v))
        means = {m: block["metrics"][m]["mean"] for m in ("LI", "DI", "NLI", "SI")}
        block["verdict"] = verdict(means, refs.get(g))
        block["references"] = refs.get(g)
        out["groups"][g] = block
    out["verdict_rule"] = VERDICT_RULE
    return out


def finite_json(obj: Any) -> Any:
    """obj with every non-finite float written as the string "nan", "inf" or "-inf" (strict JSON has none)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {str(k): finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    return obj


def _num(v) -> str:
    if isinstance(v, str):
        return v
    if v is None or isinstance(v, float) and math.isnan(v):
        return "-"
    return fmt(v, 3)


def _pct(d: dict | None) -> str:
    return "-" if d is None else f"{100 * d['mean']:.1f}"


def _verdict_table(doc: dict) -> list[str]:
    lines = ["| G | verdict | acc. (%) | orbit agreement (%) | orbit acc. (%) | LI | DI | SI | p_LI | p_DI | p_SI |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for g, b in doc["results"]["groups"].items():
        m, v = b["metrics"], b["verdict"]
        pos = v["positions"]
        lines.append(f"| {g} | **{v['label']}** | {_pct(m.get('acc'))} | {_pct(m.get('orbit_agree'))} | "
                     f"{_pct(m.get('orbit_acc'))} | {_num(m['LI']['mean'])} | {_num(m['DI']['mean'])} | "
                     f"{_num(m['SI']['mean'])} | " + " | ".join(_num(pos.get(k)) for k in ("LI", "DI", "SI")) + " |")
    return lines


def _reference_table(doc: dict) -> list[str]:
    lines = ["| G | model | acc. (%) | LI | DI | SI |", "|---|---|---|---|---|---|"]
    for g, b in doc["results"]["groups"].items():
        v = b["verdict"]["means"]
        lines.append(f"| {g} | **this model** | {_pct(b['metrics'].get('acc'))} | {_num(v['LI'])} | {_num(v['DI'])} | "
                     f"{_num(v['SI'])} |")
        for name, r in (b["references"] or {}).items():
            nu = f" (nu = {r['nu']:g})" if name == "IR" and r.get("nu") else ""
            lines.append(f"| {g} | {name}{nu} | {100 * r['acc']:.1f} | {_num(r['LI'])} | {_num(r['DI'])} | "
                         f"{_num(r['SI'])} |")
    return lines


def _dist_rows(name: str, d: dict) -> str:
    return (f"| {name} | {_num(d['mean'])} | {_num(d['median'])} | {_num(d['q25'])} - {_num(d['q75'])} | "
            f"{_num(d['iqr'])} | {_num(d['min'])} | {_num(d['max'])} | {d['nan']} |")


def markdown(doc: dict[str, Any], figures: Mapping[str, str]) -> str:
    """The report as Markdown: verdict, references, distributions, per class, layers, Lie, figures (file names)."""
    res, model, data, s = doc["results"], doc["model"], doc["data"], doc["settings"]
    t = doc["timing"]
    lines = [f"# Invariance audit of `{Path(model['path']).name}`", "",
             f"- **Model**: {model['kind']}{': ' + model['description'] if model.get('description') else ''}; "
             f"{model['parameters']:,} parameters, {model['classes']} classes (sha256 {model['sha256'][:12]}).",
             f"- **Data**: {data['description']}; {data['n']} samples of shape {tuple(data['shape'])}"
             + (f"; accuracy on the data as given {_pct(res['overall']['acc'])}%." if "acc" in res["overall"] else "."),
             f"- **Settings**: groups {', '.join(s['groups'])}; SI by integrated gradients ({s['ig_steps']} "
             f"Gauss-Legendre steps, method {s['ig_method']!r}, baseline {_num(s['baseline'])}: the black image); "
             f"layer-wise {'on' if s['layers'] else 'off'}; Lie derivative "
             f"{', '.join(s['lie']) if s['lie'] else 'off'}; batches of {s['batch_size']} on {s['device']}.",
             f"- **Wall time**: {t['total_seconds']:.1f} s ({t['batches']} batch{'es' if t['batches'] != 1 else ''}: "
             f"{t['computed']} computed, {t['cached']} read back from an interrupted run's cache); {doc['provenance']['threads']} CPU thread(s), "
             f"torch {doc['provenance']['torch']}, code {doc['provenance']['code']}.",
             "", "## Verdict", "", *_verdict_table(doc), "",
             f"Reference points ({', '.join(doc['references']['files']) or 'none found'}; "
             f"{doc['references']['set']} models, mean over 4 seeds, full scale):", "", *_reference_table(doc), "",
             f"**Rule.** {res['verdict_rule']}", ""]
    if "verdict" in figures:
        lines += [f"![verdict]({figures['verdict']})", ""]
    lines += ["## Distributions", "",
              "Per sample. `sigma_max_J` (the largest singular value of the input Jacobian) and `lie_*` are measured on "
              "the data as given; the `<G>` rows start each orbit where the accuracy of the verdict table is measured "
              "(for mnist / fashion-mnist: each image moved by its own element of G, as Table 1 does).", "",
              "| metric | mean | median | quartiles | IQR | min | max | NaN |", "|---|---|---|---|---|---|---|---|"]
    for key, d in res["overall"].items():
        if key not in _BINARY:
            lines.append(_dist_rows(key, d))
    for g, b in res["groups"].items():
        for m, d in b["metrics"].items():
            if m not in _BINARY:
                lines.append(_dist_rows(f"{g} {m}", d))
    lines.append("")
    if "distributions" in figures:
        lines += [f"![distributions]({figures['distributions']})", ""]
    for g, b in res["groups"].items():
        pc = b["per_class"]
        if not pc:
            continue
        classes = sorted({c for m in pc.values() for c in m}, key=int)
        names = doc["data"].get("classes")
        lines += [f"### Per class, {g}", "", "| class | n | " + " | ".join(f"{m} (median)" if m != "acc" else
                                                                            "acc. (%)" for m in pc) + " |",
                  "|---|---|" + "---|" * len(pc)]
        for c in classes:
            label = names[int(c)] if names and int(c) < len(names) else str(c)
            cells = [f"{100 * pc[m][c]['mean']:.1f}" if m == "acc" else _num(pc[m][c]["median"]) for m in pc]
            lines.append(f"| {label} | {pc[next(iter(pc))][c]['n']} | " + " | ".join(cells) + " |")
        lines.append("")
    if any(b["layers"] for b in res["groups"].values()):
        groups = [g for g, b in res["groups"].items() if b["layers"]]
        names = list(dict.fromkeys(n for g in groups for n in res["groups"][g]["layers"]))
        lines += ["## Layer-wise invariance", "",
                  "Normalized orbit error per module (0: the layer does not move along the orbit; 1: moving along "
                  "it changes the layer as much as switching to another sample of the batch), median over samples "
                  "(`empirical.measure.layers`; normalized within each batch).", "",
                  "| module | " + " | ".join(groups) + " |", "|---|" + "---|" * len(groups)]
        for n in names:
            lines.append(f"| `{n or '(output)'}` | " + " | ".join(
                _num(res["groups"][g]["layers"].get(n, {}).get("median")) for g in groups) + " |")
        lines.append("")
        if "layers" in figures:
            lines += [f"![layers]({figures['layers']})", ""]
    lie = [k for k in res["overall"] if k.startswith("lie_")]
    if lie:
        lines += ["## Lie derivative", "",
                  "||d/dt f(T_t x)|| at t = 0 per sample (Gruver et al. 2023; `empirical.measure.lie`): rotation in "
                  "logits per radian, translation in logits per pixel. An exactly R4-invariant model can still have "
                  "a large one: it measures invariance to small continuous transformations, which the finite groups "
                  "do not.", "", "| transformation | mean | median | quartiles |", "|---|---|---|---|"]
        for k in lie:
            d = res["overall"][k]
            lines.append(f"| {k[4:]} | {_num(d['mean'])} | {_num(d['median'])} | {_num(d['q25'])} - "
                         f"{_num(d['q75'])} |")
        lines.append("")
    sal = [k for k in figures if k.startswith("saliency_")]
    if sal:
        lines += ["## Orbit saliency maps", "",
                  "Figure 3's form: each row one sample, then g^-1 m_f(g x) for every g of the group (the saliency map "
                  "of the moved sample, moved back). A genuinely invariant decision process gives identical maps in "
                  "a row.", ""]
        lines += [f"![{k}]({figures[k]})" for k in sal]
        lines.append("")
    return "\n".join(lines)
