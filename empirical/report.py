"""paper_figures/README.md and CLAIMS.md from the experiment outputs: ours beside the paper, every claim judged.

    python -m empirical.report [--out paper_figures] [--cases 50] [--deep-cases 10]
    python -m empirical.report --figures [--out paper_figures]

Reads table1.json, fig4_drift.json, fig5_spectral.json, fig3_saliency.json, fig1_saliency_orbit.json,
fig2_latent.json and bridge.json from
``--out`` (written by the experiment commands) and re-runs the theory checks of
``theory.claims.check_all`` (seconds). Each claim has a written criterion, so a verdict is
computed from the numbers, never typed in; a claim whose numbers are missing is "not measured".

``--figures`` instead redraws, without training and without touching any JSON or Markdown, every figure
whose numbers its JSON holds, from the JSONs in ``--out`` and its subfolders (``beyond/``, ``data_scaling/``):
Figures 4 and 5 (``fig4_drift*.json``, ``fig5_spectral*.json``: .png and .pdf), ``beyond.png`` (``beyond.json``),
``scaling*.png`` (``scaling*.json``) and the bridge's figures (``bridge.json``). Figures 1, 2 and 3 are named and
left alone: their JSONs keep the numbers, not the saliency maps or the t-SNE embedding, so only their commands
(reading the run cache) redraw them. The claims and their criteria live in ``empirical.paper.paper_claims`` (the
paper's, the bridge's, the theory ledger's), ``beyond_claims``, ``latent_claims`` and ``scaling_claims``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any


from empirical.cli import command
from empirical.paper.paper_claims import (COMMANDS, OUTPUTS, Finding, bridge_findings, load_outputs, paper_findings,
                                          theory_findings)
from empirical.paper.beyond_claims import beyond_findings, beyond_markdown
from empirical.paper.scaling_claims import scaling_findings, scaling_markdown
from empirical.engine.context import output_scale_tag
from empirical.paper.latent_claims import latent_markdown
from empirical.engine.store import write_text
from empirical.engine.results import ENGINE
from empirical.engine.tuning import tuning_note

__all__ = ["claims_markdown", "readme_markdown", "provenance_lines", "FIGURE_SOURCES", "redraw_figures", "main"]

log = logging.getLogger("empirical")

def claims_markdown(findings: list[Finding], data: dict[str, Any]) -> str:
    """CLAIMS.md: the ledger of every claim with its verdict, evidence and command."""
    scale = data.get("table1", {}).get("scale", {})
    lines = ["# Claims ledger", "",
             "Every claim of the paper (abstract, §3.3, §4.2-4.4) and every claim the suite adds, with its verdict on "
             "our runs, the evidence in one line and the command that reproduces it. Verdicts are computed by "
             "`python -m empirical.report` from the outputs in this folder against the criterion written in each "
             "statement: *holds*, *fails*, *holds only for ...* (a condition), or *not measured*.", ""]
    if scale:
        lines += [f"Experiments: {scale_text(scale, data['table1'].get('device'))}.", ""]
    lines += ["| id | source | claim | verdict | evidence | command |", "|---|---|---|---|---|---|"]
    for f in findings:
        cells = [f"`{f.id}`", f.source, f.statement, f"**{f.verdict}**", f.evidence, f"`{f.command}`"]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def provenance_lines(data: dict[str, Any]) -> list[str]:
    """One line per output: its scale, the engine and code that made it; outputs of an older engine are named."""
    lines = []
    for name in OUTPUTS:
        if name not in data:
            continue
        d, prov = data[name], data[name].get("provenance") or {}
        engine = prov.get("engine")
        made_by = engine if engine else "before provenance was recorded"
        old = "" if engine == ENGINE else (f" **made by an older engine ({made_by}; current {ENGINE}): rerun "
                                           f"`{COMMANDS[name]}` to refresh**")
        lines.append(f"- `{OUTPUTS[name]}`: scale {output_scale_tag(d)}, code {prov.get('code', '?')}, torch "
                     f"{prov.get('torch', '?')}, device {prov.get('device', d.get('device', '?'))}{old}.")
    return lines


def conventions_lines(conv: dict[str, Any]) -> list[str]:
    """Beside Table 1: SI's fragility and the search for a reading that gives the paper's SI (conventions.json)."""
    lines = ["### SI's fragility (`python -m empirical.conventions`; details in [CONVENTIONS.md](CONVENTIONS.md))", "",
             f"{scale_text(conv.get('scale', {}), conv.get('device'))}. Pixels of a saliency map that survive the "
             "0.9 x max threshold (median [quartiles], share of single-pixel maps), how often the realigned peak pixel "
             "of g x agrees with x's, and SI's spread over seeds and over disjoint test subsets, beside a steadier "
             "similarity (cosine of the smoothed |IG| maps without the threshold):", "",
             "| G | model | surviving pixels | single-pixel maps | peak agreement | SI | SI std: seeds / subsets | "
             "no-threshold cosine | its std: seeds / subsets |", "|---|---|---|---|---|---|---|---|---|"]
    for r in conv["fragility"]["rows"]:
        sv, si, soft = r["survivors"], r["SI"], r["soft_cosine"]
        lines.append(f"| {r['group']} | {r['model']} | {sv['median']:g} [{sv['q1']:g}, {sv['q3']:g}] | "
                     f"{sv['single']:.2f} | {r['peak_agreement']:.2f} | {si['mean']:.3f} | "
                     f"{si['std_over_seeds']:.3f} / {si['std_over_subsets']:.3f} | {soft['mean']:.3f} | "
                     f"{soft['std_over_seeds']:.3f} / {soft['std_over_subsets']:.3f} |")
    search = (conv.get("table1") or {}).get("search") or {}
    if search.get("searched"):
        found = search["matches"]
        lines += ["", f"Does a reading of SI explain the paper's numbers ({search['criteria']})? Of "
                      f"{search['n_readings']} readings, " + (f"{len(found)} match: " + ", ".join(
                          f"`{m['reading']}`" for m in found[:5]) if found else "**none** matches") + "."]
    return lines + [""]


def scale_text(scale: dict[str, Any], device: str | None = None) -> str:
    """An output's scale in words: epochs, training images, seeds (and device)."""
    text = f"{scale.get('epochs')} epochs, {scale.get('n_train')} training images, {scale.get('seeds')} seed(s)"
    return text + (f", device `{device}`" if device else "")


def bridge_scales(b: dict[str, Any]) -> str:
    """The scale each bridge part ran at (parts may differ, see ``empirical.bridge.merge``)."""
    from empirical.engine.context import part_scales

    return "; ".join(f"{p}: {scale_text(sc, sc.get('device'))}" for p, sc in part_scales(b).items())


def readme_markdown(data: dict[str, Any], paper: list[Finding], bridge: list[Finding], readme_head: str,
                    beyond: str = "") -> str:
    """paper_figures/README.md: the hand-written head, the measured tables and claim verdicts, then ``beyond``
    (the extension's section, ``beyond_claims.beyond_markdown``)."""
    from empirical.paper.tables import to_markdown

    lines = [readme_head.rstrip(), ""]
    if "table1" in data:
        lines += ["## Table 1 (`python -m empirical.table1`)", "", to_markdown(data["table1"])]
    if data.get("conventions", {}).get("fragility"):
        lines += conventions_lines(data["conventions"])
    if "drift" in data:
        d = data["drift"]
        show = [b for b in (0.0, 0.1, 0.3, 0.5, 1.0) if b in d["betas"]]
        lines += ["## Figure 4 (`python -m empirical.drift`)", "", "![Figure 4](fig4_drift.png)", "",
                  f"DI and accuracy ratio Acc(D(beta))/Acc(D(0)) (mean ± std over seeds), drift mode `{d['mode']}`; "
                  f"{scale_text(d.get('scale', {}), d.get('device'))}:", "",
                  "| G | model | " + " | ".join(f"DI(β={b:g})" for b in show) + " | " +
                  " | ".join(f"ratio(β={b:g})" for b in show if b > 0) + " |",
                  "|---|---|" + "---|" * (2 * len(show) - 1)]
        for c in d["curves"]:
            idx = [d["betas"].index(b) for b in show]
            di = " | ".join(f"{c['DI'][i][0]:.3g} ± {c['DI'][i][1]:.2g}" for i in idx)
            ra = " | ".join(f"{c['acc_ratio'][i][0]:.3f}" for i in idx if d["betas"][i] > 0)
            lines.append(f"| {c['group']} | {c['model']} | {di} | {ra} |")
        lines.append("")
    if "spectral" in data:
        sp = data["spectral"]
        lines += ["## Figure 5 (`python -m empirical.spectral`)", "", "![Figure 5](fig5_spectral.png)", "",
                  f"{scale_text(sp.get('scale', {}), sp.get('device'))}.", "",
                  "| G | model | nu | sigma_max(J) | acc (%) | SI (test) | LI |", "|---|---|---|---|---|---|---|"]
        for r in data["spectral"]["rows"]:
            lines.append(f"| {r['group']} | {r['model']} | {r['nu'] or '-'} | {r['sigma_max_J'][0]:.3g} ± "
                         f"{r['sigma_max_J'][1]:.2g} | {100 * r['acc'][0]:.1f} ± {100 * r['acc'][1]:.1f} | "
                         f"{r['SI'][0]:.3f} | {r['LI'][0]:.3g} |")
        lines += ["", "nu tuning (validation SI >= 0.95, smallest nu on the grid; bisection, or a full scan when the "
                  "largest nu misses):", ""]
        lines += [f"- {tuning_note(t)}" for t in data["spectral"]["tuning"]]
        lines.append("")
    if "figure1" in data:
        lines += ["## Figure 1 (`python -m empirical.figure1`)", "",
                  "Paper: a DA network learns a separate set of features per orientation (divergent saliency maps, "
                  "left), weight-tying does not (right), while the predicted class distributions agree over the "
                  "orbit; bottom row: the maps realigned to a common orientation.", "",
                  "![Figure 1](fig1_saliency_orbit.png)", ""]
        for f in data["figure1"].get("figures", []):
            for name, m in f["models"].items():
                lines.append(f"- {f['group']}, test sample {f['sample']} (class {f['label']}), {name}: SI "
                             f"{m['SI']:.2f}; p(class {f['label']}) per orientation "
                             + ", ".join(f"{p[f['label']]:.2f}" for p in m["probs"]) + "; predicted "
                             + ", ".join(map(str, m["predicted"])))
        lines.append("")
    if "latent" in data:
        lines += ["## Figure 2 (`python -m empirical.latent`)", "",
                  "Paper: in a t-SNE of the DA model's penultimate layer, different orientations of one sample land "
                  "far apart, though within their class.", "", "![Figure 2](fig2_latent.png)", "",
                  "Measured in the representation space (mean ± std over seeds): orbit spread (mean distance between "
                  "two orientations of a sample) over the mean distance to the nearest same-class / other-class sample "
                  "of another orbit; the fraction of orientations whose nearest neighbour is in their own orbit; the "
                  "fraction whose nearest other-orbit neighbour has their class.", "",
                  *latent_markdown(data["latent"]), ""]
    if "saliency" in data:
        lines += ["## Figure 3 (`python -m empirical.saliency`)", "", "![Figure 3](fig3_saliency.png)", ""]
    lines += ["## The paper's claims on our runs", "", "| claim | source | verdict | evidence |", "|---|---|---|---|"]
    lines += [f"| {f.statement} | {f.source} | **{f.verdict}** | {f.evidence} |" for f in paper]
    lines += ["", "## Theory meets the trained networks (`python -m empirical.bridge`)", "",
              "Figures: `bridge_linear.png`, `bridge_deep_linear.png`, `bridge_layers.png`, `bridge_subspace.png`; "
              "every number in `bridge.json`.", ""]
    if data.get("bridge"):
        lines += [f"Scale of each part: {bridge_scales(data['bridge'])}.", ""]
    lines += ["| claim | verdict | evidence |", "|---|---|---|"]
    lines += [f"| {f.statement} | **{f.verdict}** | {f.evidence} |" for f in bridge]
    if beyond:
        lines += ["", beyond.rstrip()]
    lines += ["", "## Provenance", "", *provenance_lines(data)]
    lines += ["", "The full ledger, theory included: [CLAIMS.md](CLAIMS.md)."]
    return "\n".join(lines) + "\n"


# The JSONs whose figures are pure functions of them (glob -> plotting step) and those whose figures are not.
FIGURE_SOURCES = ("fig4_drift*.json", "fig5_spectral*.json", "beyond.json", "bridge.json", "scaling*.json")
NOT_REDRAWN = {"fig1_saliency_orbit*.json": "python -m empirical.figure1",
               "fig2_latent*.json": "python -m empirical.latent", "fig3_saliency*.json": "python -m empirical.saliency"}


def _redraw(source: Path) -> list[Path]:
    """Draw the figure(s) of one JSON of :data:`FIGURE_SOURCES` beside it, as its command does."""
    from empirical.paper.beyond_plots import plot_beyond
    from empirical.paper.bridge_plots import plot_all
    from empirical.paper.plots import plot_drift, plot_spectral

    data, folder = json.loads(source.read_text()), source.parent
    if source.name.startswith("fig4_drift"):
        return plot_drift(data, folder / source.stem)
    if source.name.startswith("fig5_spectral"):
        return plot_spectral(data, folder / source.stem)
    if source.name == "beyond.json":
        return [plot_beyond(data, folder / "beyond.png")]
    if source.name.startswith("scaling"):  # scaling.json, scaling_<arch>.json
        from empirical.paper.scaling_plots import plot_scaling

        return [plot_scaling(data, folder / f"{source.stem}.png")]
    return plot_all(data, folder)


def redraw_figures(out: Path) -> tuple[list[Path], list[str]]:
    """Redraw every figure that its JSON in ``out`` or a folder in it holds the numbers of; no JSON or Markdown is
    written. Returns the files written and, for each JSON whose figure cannot be redrawn from it, the command
    that redraws it."""
    out = Path(out)
    folders = [out, *sorted(p for p in out.iterdir() if p.is_dir())] if out.is_dir() else []
    written: list[Path] = []
    skipped: list[str] = []
    for folder in folders:
        for pattern in FIGURE_SOURCES:
            for source in sorted(folder.glob(pattern)):
                written += _redraw(source)
        for pattern, cmd in NOT_REDRAWN.items():
            skipped += [f"{source} (the JSON keeps its numbers, not its maps or embedding: `{cmd}` redraws it "
                        "from the run cache)" for source in sorted(folder.glob(pattern))]
    return written, skipped


def _listing(paths: list[Path]) -> str:
    names = [str(p) for p in paths]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


@command
def main(argv: list[str] | None = None) -> int:
    """Write README.md (from README.head.md plus the measured tables) and CLAIMS.md into ``--out``; with
    ``--figures``, only redraw the figures from their JSONs."""
    p = argparse.ArgumentParser(prog="python -m empirical.report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="paper_figures", help="the folder with the experiment outputs")
    p.add_argument("--cases", type=int, default=50, help="random instances per linear theory claim")
    p.add_argument("--deep-cases", type=int, default=10, help="random instances per deep-linear claim")
    p.add_argument("--figures", action="store_true",
                   help="only redraw every figure from its JSON in --out (no training; no JSON or Markdown written)")
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.figures:
        written, skipped = redraw_figures(out)
        if not written:
            print(f"error: no {', '.join(FIGURE_SOURCES)} in {out} or a folder in it", file=sys.stderr)
            return 1
        for line in skipped:
            log.info("not redrawn: %s", line)
        log.info("wrote %s", _listing(written))
        return 0
    data = load_outputs(out)
    paper, bridge = paper_findings(data), bridge_findings(data)
    theory = theory_findings(args.cases, args.deep_cases)
    head = out / "README.head.md"
    write_text(readme_markdown(data, paper, bridge, head.read_text() if head.exists() else "# Results",
                               beyond_markdown(out).rstrip() + "\n\n" + scaling_markdown(out)), out / "README.md")
    beyond = [Finding(*f) for f in beyond_findings(out) + scaling_findings(out)]
    write_text(claims_markdown(paper + bridge + theory + beyond, data), out / "CLAIMS.md")
    log.info("wrote %s and %s", out / "README.md", out / "CLAIMS.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
