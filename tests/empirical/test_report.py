"""The report's verdicts are computed from the numbers: synthetic outputs with known answers."""

import json
import logging
from pathlib import Path

import pytest

from empirical import report
from empirical.paper import paper_claims
from empirical.paper.tables import PAPER


def row(group, model, acc, li, di, si, sigma=1.0, nu=0.0):
    out = {"group": group, "model": model, "nu": nu, "acc": [acc, 0.1], "LI": [li, 0.0], "DI": [di, 0.0],
           "SI": [si, 0.0], "NLI": [0.0, 0.0], "sigma_max_J": [sigma, 0.0]}
    if (group, model) in PAPER:
        out["paper"] = {m: list(v) for m, v in PAPER[(group, model)].items()}
    return out


def paper_like_table():
    """Table 1 of the paper itself: every §4.2 claim should hold on it."""
    rows = [row("R4", "WT", 94.6, 0.0, 0.0, 1.0), row("R4", "DA", 94.0, 98.6, 0.3, 0.17),
            row("R4", "IR", 87.9, 0.02, 0.0, 0.95, nu=1.0), row("T3", "WT", 96.6, 0.0, 0.0, 1.0),
            row("T3", "DA", 96.2, 50.8, 0.1, 0.57), row("T3", "IR", 93.1, 0.01, 0.0, 0.95, nu=1.0)]
    return {"rows": rows, "tuning": [], "scale": {"epochs": 300, "n_train": 10000, "seeds": 4, "n_test": 50000,
                                                           "n_saliency": 1000}, "device": "cpu"}


def by_id(findings):
    return {f.id: f for f in findings}


def test_the_papers_own_table_satisfies_its_section_4_2_claims():
    f = by_id(paper_claims.paper_findings({"table1": paper_like_table()}))
    for cid in ("wt_highest_accuracy", "da_not_genuinely_invariant", "da_solves_invariant_task", "ir_resembles_wt",
                "ir_costs_accuracy"):
        assert f[cid].verdict == "holds", (cid, f[cid].evidence)
    assert f["ir_spectral_decay_every_form"].verdict == "not measured"


def test_a_claim_failing_in_one_group_is_conditional():
    t = paper_like_table()
    t["rows"][2] = row("R4", "IR", 95.0, 0.02, 0.0, 0.95, nu=1.0)  # IR beats DA (and WT) on R4 only
    f = by_id(paper_claims.paper_findings({"table1": t}))
    assert f["ir_costs_accuracy"].verdict == "holds only for T3"
    assert f["wt_highest_accuracy"].verdict == "holds only for T3"


def test_drift_and_spectral_rules():
    betas = [0.0, 0.1, 0.5, 1.0]
    curve = lambda g, m, di, ratio: {"group": g, "model": m, "DI": [[v, 0] for v in di],  # noqa: E731
                                     "acc_ratio": [[v, 0] for v in ratio]}
    drift = {"betas": betas, "mode": "interpolate", "curves": [
        curve("R4", "WT", [0, 0, 0, 0], [1, .9, .6, .3]), curve("R4", "DA", [.1, .5, 1, 2], [1, .8, .5, .2]),
        curve("R4", "IR", [0, .01, .02, .05], [1, .7, .4, .2])]}
    spectral = {"rows": [row("R4", "DA", .94, 1, 1, .2, sigma=5), row("R4", "IR-LI", .9, 0, 0, .95, sigma=2),
                         row("R4", "IR-DI", .8, 0, 0, .95, sigma=3), row("R4", "IR-NLI", .85, 0, 0, .95, sigma=6)],
                "tuning": []}
    f = by_id(paper_claims.paper_findings({"drift": drift, "spectral": spectral}))
    assert f["da_invariance_collapses_under_drift"].verdict == "holds"
    assert f["wt_ir_invariance_survives_drift"].verdict == "holds"
    assert f["wt_keeps_accuracy_under_drift"].verdict == "holds"
    assert f["ir_keeps_accuracy_t3_not_r4"].verdict == "fails"
    assert f["ir_spectral_decay_every_form"].verdict == "fails" and "IR-NLI 6" in f["ir_spectral_decay_every_form"].evidence
    assert f["ir_accuracy_drop_every_form"].verdict == "holds"
    assert f["li_best_regularizer"].verdict == "holds"
    assert "never reached" not in f["ir_spectral_decay_every_form"].evidence
    spectral["tuning"] = [{"group": "R4", "form": "NLI", "target_SI": 0.95, "chosen_nu": 30.0, "reached": False,
                           "sweep": [{"nu": 3.0, "SI": 0.6}, {"nu": 30.0, "SI": 0.79}]}]
    f = by_id(paper_claims.paper_findings({"spectral": spectral}))
    assert "R4 IR-NLI never reached validation SI 0.95 on its grid (best 0.790 at nu = 30)" in \
        f["ir_spectral_decay_every_form"].evidence


def test_main_writes_readme_and_claims(tmp_path):
    (tmp_path / "table1.json").write_text(json.dumps(paper_like_table()))
    (tmp_path / "README.head.md").write_text("# Results head\n")
    assert report.main(["--out", str(tmp_path), "--cases", "1", "--deep-cases", "1"]) == 0
    readme = (tmp_path / "README.md").read_text()
    assert readme.startswith("# Results head") and "## Table 1" in readme and "CLAIMS.md" in readme
    claims = (tmp_path / "CLAIMS.md").read_text()
    for cid in ("da_not_genuinely_invariant", "prop31_flow_bound", "deep_linear_balanced_init_spectral", "bridge"):
        assert f"`{cid}`" in claims
    assert "**not measured**" in claims  # drift, spectral, saliency and the bridge were not run here


def test_bridge_scales_name_each_part():
    full = {"epochs": 300, "n_train": 10000, "seeds": 4}
    b = {"parts": ["linear", "layers"], "part_scales": {"linear": {**full, "epochs": 50, "seeds": 1, "device": "cpu"},
                                                        "layers": {**full, "device": "cpu"}}}
    assert report.bridge_scales(b) == ("linear: 50 epochs, 10000 training images, 1 seed(s), device `cpu`; "
                                       "layers: 300 epochs, 10000 training images, 4 seed(s), device `cpu`")
    old = {"parts": ["subspace"], "scale": full, "device": "cuda"}  # written before part_scales existed
    assert report.bridge_scales(old) == "subspace: 300 epochs, 10000 training images, 4 seed(s), device `cuda`"


def test_provenance_names_outputs_of_an_older_engine():
    from empirical.report import provenance_lines
    from empirical.engine.results import ENGINE

    data = {"table1": {"scale_tag": "full", "provenance": {"engine": ENGINE, "code": "abc"}},
            "drift": {"scale_tag": "full"},  # committed before provenance was recorded
            "spectral": {"scale_tag": "quick", "provenance": {"engine": ENGINE - 1}}}
    lines = dict(zip(("table1", "drift", "spectral"), provenance_lines(data)))
    assert "older engine" not in lines["table1"] and "code abc" in lines["table1"]
    assert "older engine (before provenance was recorded" in lines["drift"]
    assert f"older engine ({ENGINE - 1}" in lines["spectral"] and "scale quick" in lines["spectral"]


def test_beyond_claims_are_not_measured_until_their_outputs_exist_then_judged(tmp_path):
    from empirical.paper.beyond_claims import beyond_findings

    assert {f[3] for f in beyond_findings(tmp_path)} == {"not measured"}
    rows = []
    for g, da_si in (("R4", 0.4), ("D4", 0.3)):
        for m, li, si, acc in (("WT", 0.0, 1.0, 95.0), ("DA", 100.0, da_si, 94.0), ("IR", 0.05, 0.95, 90.0)):
            rows.append({"group": g, "model": m, "LI": [li, 0], "SI": [si, 0], "acc": [acc, 0]})
    (tmp_path / "beyond").mkdir()
    li_tuning = [{"group": "D4", "form": "LI", "reached": False, "target_SI": 0.95,
                  "sweep": [{"nu": 30.0, "SI": 0.91}]},
                 {"group": "R4", "form": "LI", "reached": True, "target_SI": 0.95, "sweep": [{"nu": 3.0, "SI": 0.96}]}]
    (tmp_path / "beyond" / "table1_cnn.json").write_text(json.dumps({"rows": rows, "tuning": li_tuning}))
    spec = [{"group": "R4", "model": m, "sigma_max_J": [v, 0]} for m, v in
            (("DA", 10.0), ("IR-LI", 4.0), ("IR-DI", 12.0), ("IR-NLI", 5.0))]
    tuning = [{"group": "R4", "form": "DI", "reached": False, "target_SI": 0.95,
               "sweep": [{"nu": 1.0, "SI": 0.8}, {"nu": 3.0, "SI": 0.87}]},
              {"group": "R4", "form": "LI", "reached": True, "target_SI": 0.95, "sweep": [{"nu": 1.0, "SI": 0.96}]}]
    (tmp_path / "beyond" / "fig5_spectral_cnn.json").write_text(json.dumps({"rows": spec, "tuning": tuning}))
    found = {f[0]: f for f in beyond_findings(tmp_path)}
    assert found["beyond_cnn_da_not_genuine"][3] == "holds"
    assert found["beyond_cnn_ir_like_wt"][3] == "holds" and "accuracy cost 5.0 points below WT" in \
        found["beyond_cnn_ir_like_wt"][4]
    # so is a group whose LI search missed it: D4's, not R4's
    assert "D4: IR SI 0.95 (SI >= 0.95 NOT reached: best validation SI 0.910), LI" in found["beyond_cnn_ir_like_wt"][4]
    assert "R4: IR SI 0.95, LI" in found["beyond_cnn_ir_like_wt"][4]
    assert found["beyond_cnn_ir_lowers_sigma"][3] == "holds only for IR-LI, IR-NLI"
    # a form whose search missed SI >= 0.95 is named in the evidence (the verdict is not changed by it)
    evidence = found["beyond_cnn_ir_lowers_sigma"][4]
    assert "IR-DI 12 (SI >= 0.95 NOT reached: best validation SI 0.870)" in evidence and "IR-LI 4 (" not in evidence
    assert found["beyond_da_si_falls_with_group_size"][3] == "holds"
    assert found["beyond_wt_accuracy_upper_bound"][3] == "holds"


def test_main_says_what_it_wrote(tmp_path, caplog):
    (tmp_path / "table1.json").write_text(json.dumps(paper_like_table()))
    caplog.set_level(logging.INFO, logger="empirical")
    assert report.main(["--out", str(tmp_path), "--cases", "1", "--deep-cases", "1"]) == 0
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("wrote ")]
    assert lines == [f"wrote {tmp_path / 'README.md'} and {tmp_path / 'CLAIMS.md'}"]


# --- the figures, redrawn from the committed JSONs (python -m empirical.report --figures) ---

COMMITTED = Path(__file__).resolve().parents[2] / "paper_figures"


@pytest.fixture
def drawn(monkeypatch):
    """Every figure the paper layer's plots save, by file name, still open for inspection (and saved as usual)."""
    import empirical.paper.plots as plots

    figures, save = {}, plots.save_figure

    def keep(fig, *paths):
        figures.update((Path(path).name, fig) for path in paths)
        return save(fig, *paths)

    monkeypatch.setattr(plots, "save_figure", keep)
    return figures


def committed(name: str) -> dict:
    return json.loads((COMMITTED / name).read_text())


def caption_texts(fig) -> list:
    return [t for t in fig.texts if "scale:" in t.get_text()]


def test_figure5_has_a_log_axis_and_says_what_its_bars_and_error_bars_are(drawn, tmp_path):
    from empirical.paper.plots import plot_spectral

    plot_spectral(committed("fig5_spectral.json"), tmp_path / "fig5_spectral")
    ax = drawn["fig5_spectral.png"].axes[0]
    assert ax.get_yscale() == "log"  # T3 IR-NLI's 31 no longer squeezes the other bars
    low, high = ax.get_ylim()
    bars = [b.get_height() for b in ax.patches]
    assert low <= min(bars) and max(bars) <= high
    (text,) = caption_texts(drawn["fig5_spectral.png"])
    assert "error bars: ± 1 standard deviation over seeds" in text.get_text() and "n = 4" in text.get_text()


def test_figure4_legend_is_clear_of_the_curves_and_wt_and_ir_stay_visible(drawn, tmp_path):
    from empirical.paper.plots import plot_drift

    plot_drift(committed("fig4_drift.json"), tmp_path / "fig4_drift")
    fig = drawn["fig4_drift.png"]
    fig.canvas.draw()
    assert all(ax.get_legend() is None for ax in fig.axes)  # no legend inside a panel
    (legend,) = fig.legends
    box = legend.get_window_extent()
    assert not any(box.overlaps(ax.get_window_extent()) for ax in fig.axes)
    labels = [t.get_text() for t in legend.get_texts()]
    assert any("DI ± 1 std over seeds" in label for label in labels)  # the shaded bands say what they are
    assert "Shaded band: DI ± 1 standard deviation over seeds" in caption_texts(fig)[0].get_text()
    for ax in fig.axes:  # WT's DI is exactly 0 and IR's near it: different, see-through marks
        lines = {line.get_label(): line for line in ax.get_lines()}
        for kind in ("DI", "acc. ratio"):
            wt, ir = lines.get(f"WT {kind}"), lines.get(f"IR {kind}")
            if wt is None:
                continue
            assert wt.get_marker() != ir.get_marker() and wt.get_markerfacecolor() == "none"
            assert wt.get_markersize() > ir.get_markersize() and wt.get_zorder() < ir.get_zorder()


def test_beyond_figure_names_the_si_target_line_in_its_legend(drawn, tmp_path):
    from empirical.engine.tuning import SI_TARGET
    from empirical.paper.beyond_plots import plot_beyond

    plot_beyond(committed("beyond/beyond.json"), tmp_path / "beyond.png")
    fig = drawn["beyond.png"]
    (target,) = [line for line in fig.axes[0].get_lines() if list(line.get_ydata()) == [SI_TARGET, SI_TARGET]]
    (legend,) = fig.legends
    assert target.get_label() in [t.get_text() for t in legend.get_texts()]
    assert f"SI {SI_TARGET:g}" in target.get_label()
    assert "error bars: ± 1 standard deviation over seeds" in caption_texts(fig)[0].get_text()


def test_every_caption_is_readable(drawn, tmp_path):
    from matplotlib.colors import to_rgb

    from empirical.paper.beyond_plots import plot_beyond
    from empirical.paper.plots import plot_drift, plot_spectral

    plot_spectral(committed("fig5_spectral.json"), tmp_path / "a")
    plot_drift(committed("fig4_drift.json"), tmp_path / "b")
    plot_beyond(committed("beyond/beyond.json"), tmp_path / "c.png")
    assert len(drawn) == 5  # png and pdf of a and b, c.png
    for name, fig in drawn.items():
        (text,) = caption_texts(fig)
        assert text.get_fontsize() >= 8 and max(to_rgb(text.get_color())) <= 0.3, (name, text.get_fontsize())


def test_figures_option_redraws_every_figure_from_its_json_and_writes_no_json_or_markdown(tmp_path, caplog):
    for name in ("fig4_drift.json", "fig5_spectral.json", "fig3_saliency.json", "README.md", "beyond/beyond.json",
                 "beyond/fig5_spectral_cnn.json"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes((COMMITTED / name).read_bytes())
    bridge = committed("bridge.json")
    (tmp_path / "bridge.json").write_text(json.dumps({k: v for k, v in bridge.items()  # its two quick figures
                                                      if k not in ("linear", "deep_linear")}))
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    caplog.set_level(logging.INFO, logger="empirical")
    assert report.main(["--out", str(tmp_path), "--figures"]) == 0
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert {p: after[p] for p in before} == before  # no JSON or Markdown touched
    new = sorted(str(p.relative_to(tmp_path)) for p in set(after) - set(before))
    assert new == ["beyond/beyond.png", "beyond/fig5_spectral_cnn.pdf", "beyond/fig5_spectral_cnn.png",
                   "bridge_layers.png", "bridge_subspace.png", "fig4_drift.pdf", "fig4_drift.png",
                   "fig5_spectral.pdf", "fig5_spectral.png"]
    messages = [r.getMessage() for r in caplog.records]
    (line,) = [m for m in messages if m.startswith("wrote ")]
    assert all(str(tmp_path / p) in line for p in new)
    assert any(m.startswith(f"not redrawn: {tmp_path / 'fig3_saliency.json'}") for m in messages)


def test_figures_option_without_a_json_says_so(tmp_path, capsys):
    assert report.main(["--out", str(tmp_path), "--figures"]) == 1
    assert "no fig4_drift*.json" in capsys.readouterr().err


def test_save_figure_closes_the_figure_it_saved_and_one_whose_save_failed(tmp_path):
    from empirical.paper.plots import plt, save_figure

    fig = plt.figure()
    paths = save_figure(fig, tmp_path / "a.png", tmp_path / "a.pdf")
    assert [p.name for p in paths] == ["a.png", "a.pdf"] and all(p.stat().st_size > 0 for p in paths)
    assert fig.number not in plt.get_fignums()
    fig = plt.figure()
    with pytest.raises(ValueError):
        save_figure(fig, tmp_path / "a.nosuchformat")
    assert fig.number not in plt.get_fignums() and not (tmp_path / "a.nosuchformat").exists()
