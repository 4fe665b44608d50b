"""``python -m theory.flow_demo``: table, expected verdicts, exit status, --json, --quiet, figures, --out default."""

import io
import json
import os
import re
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

import theory.deep_figures
import theory.figures
from tests.theory.test_claims import EXPECTED as LINEAR_EXPECTED
from tests.theory.test_deep_claims import EXPECTED as DEEP_EXPECTED
from tests.theory.test_duan_claims import EXPECTED as DUAN_EXPECTED
from theory import flow_demo
from theory.claim import Verdict
from theory.claims import all_claims
from theory.figures import FIGURES as LINEAR_FIGURES

PNG = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[2]

# Seed 0 with 12 cases per linear claim and 6 per deep-linear claim meets a counterexample to every boundary
# (the seeded searches of test_claims.py and test_deep_claims.py), so every verdict is the expected one.
ARGS = ["--json", "--cases", "12", "--deep-cases", "6", "--seed", "0"]
EXPECTED = {**LINEAR_EXPECTED, **DEEP_EXPECTED, **DUAN_EXPECTED}
FIGURES = (*LINEAR_FIGURES, "deep_spectral.png")
SUMMARY = re.compile(r"^(\d+) claims hold, (\d+) refuted as expected \(the theory's boundaries\), (\d+) unexpected",
                     re.MULTILINE)


def run(argv):
    """main(argv) in-process; (exit code, stdout)."""
    buf = io.StringIO()
    with redirect_stdout(buf):
        code = flow_demo.main(argv)
    return code, buf.getvalue()


def fake_verdicts(flip=()):
    """One verdict per claim, each the expected one except the claims in ``flip`` (no search run)."""
    return [Verdict(c.id, c.statement, c.expected != (c.id in flip), 1, None,
                    None if c.expected != (c.id in flip) else {"group": "C2", "ratio": 2.0}, "fake")
            for c in all_claims()]


@pytest.fixture
def fake_checks(monkeypatch):
    """Replace the searches by ``fake_verdicts(flip)``; set the flipped claims with the returned function."""
    flip = set()
    monkeypatch.setattr(flow_demo, "check_all", lambda **_: fake_verdicts(flip))
    return flip.update


@pytest.fixture
def recorded_figures(monkeypatch):
    """Replace both figure writers by recorders of the folder they are given (nothing is drawn or written)."""
    folders = []
    monkeypatch.setattr(theory.figures, "write_figures", lambda out, seed: folders.append(out) or [])
    monkeypatch.setattr(theory.deep_figures, "deep_figures", lambda out, seed: folders.append(out) or [])
    return folders


@pytest.fixture(scope="module")
def json_run(tmp_path_factory):
    """One --json run with figures: (exit code, raw stdout, parsed JSON, figure folder)."""
    out = tmp_path_factory.mktemp("figs")
    code, stdout = run(ARGS + ["--out", str(out)])
    return code, stdout, json.loads(stdout), out


def test_json_lists_every_claim(json_run):
    code, _, data, _ = json_run
    assert [d["claim"] for d in data] == list(EXPECTED)
    for d in data:
        assert {"claim", "statement", "holds", "expected", "cases", "worst_ratio", "counterexample"} <= set(d)
        assert isinstance(d["holds"], bool) and d["cases"] >= 1
        assert (d["counterexample"] is None) == d["holds"]
        if d["counterexample"] is not None:
            assert "ratio" in d["counterexample"]
        # the expected field is the theory's prediction, and this search meets every boundary
        assert d["expected"] is EXPECTED[d["claim"]]
        assert d["holds"] is d["expected"], d
    assert code == 0


def test_expected_field_is_on_every_claim():
    """Every claim carries the verdict the theory predicts; it agrees with the record kept in the tests."""
    assert {c.id: c.expected for c in all_claims()} == EXPECTED


def test_figures_are_written(json_run):
    _, _, _, out = json_run
    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 5_000
    assert not list(out.glob("*.tmp")), "atomic writes leave no temporary files"


def test_same_seed_same_output(json_run, tmp_path):
    first_code, first, _, out = json_run
    code, again = run(ARGS + ["--out", str(tmp_path)])
    assert code == first_code and again == first
    for name in FIGURES:
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes()
    _, other = run(["--json", "--cases", "3", "--deep-cases", "2", "--seed", "6", "--no-figures"])
    assert other != first


def test_table_has_expected_column_and_closing_line(fake_checks):
    """Each row shows the expected verdict; the closing line counts holds / refuted as expected / unexpected."""
    code, table = run(["--no-figures"])
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["claim", "verdict", "expected"]
    for claim, holds in EXPECTED.items():
        row = next(line for line in lines if line.startswith(claim + " "))
        word = "holds" if holds else "REFUTED"
        assert row.split()[1:3] == [word, word]
    n_hold = sum(EXPECTED.values())
    assert SUMMARY.search(table).groups() == (str(n_hold), str(len(EXPECTED) - n_hold), "0")
    assert "UNEXPECTED" not in table
    assert code == 0


def test_unexpected_verdicts_are_named_and_fail(fake_checks):
    """A boundary that holds (search too small) and a proved claim refuted both count as unexpected: exit 1."""
    boundary = next(c for c, holds in EXPECTED.items() if not holds)
    proved = next(c for c, holds in EXPECTED.items() if holds)
    fake_checks({boundary, proved})
    code, table = run(["--no-figures"])
    n_hold = sum(EXPECTED.values())
    assert SUMMARY.search(table).groups() == (str(n_hold - 1), str(len(EXPECTED) - n_hold - 1), "2")
    assert f"{boundary} (no counterexample met in 1 case; raise --cases / --deep-cases)" in table
    assert f"{proved} (refuted, expected to hold)" in table
    assert sum("UNEXPECTED" in line for line in table.splitlines()) == 2
    assert code == 1
    for quiet in (["--quiet"], ["--json"]):  # the exit status does not depend on what is printed
        assert run(quiet + ["--no-figures"])[0] == 1


def test_small_search_table_and_quiet():
    """A real search with 2 cases: every claim is listed; the exit status is 1 exactly when a verdict is unexpected."""
    code, table = run(["--cases", "2", "--deep-cases", "1", "--no-figures"])
    for claim in EXPECTED:
        assert claim in table
    assert "REFUTED" in table and "holds" in table
    unexpected = int(SUMMARY.search(table).group(3))
    assert code == int(unexpected > 0)
    code, quiet = run(["--cases", "1", "--deep-cases", "1", "--quiet", "--no-figures"])
    assert quiet == "" and code in (0, 1)


def test_default_out_is_the_checkout_not_the_cwd(tmp_path, monkeypatch, fake_checks, recorded_figures):
    """Run elsewhere, the figures go to the checkout's paper_figures/theory and nothing appears in the cwd."""
    assert (ROOT / "paper_figures").is_dir()
    monkeypatch.chdir(tmp_path)
    assert run(["--quiet"])[0] == 0
    assert recorded_figures == [ROOT / "paper_figures" / "theory"] * 2
    assert list(tmp_path.iterdir()) == []
    recorded_figures.clear()
    assert run(["--quiet", "--out", "here"])[0] == 0  # an explicit --out is taken as given
    assert recorded_figures == [Path("here")] * 2


def test_out_is_required_outside_a_checkout(tmp_path, monkeypatch, capsys, fake_checks, recorded_figures):
    """Without paper_figures/ beside the package there is no default: a usage error names --out."""
    monkeypatch.setattr(flow_demo, "_CHECKOUT_FIGURES", tmp_path / "installed" / "paper_figures")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        flow_demo.main(["--quiet"])
    assert exc.value.code == 2 and "--out is required" in capsys.readouterr().err
    assert recorded_figures == [] and list(tmp_path.iterdir()) == []
    assert flow_demo.main(["--quiet", "--no-figures"]) == 0  # nothing to write, nothing required
    assert flow_demo.main(["--quiet", "--out", str(tmp_path / "figs")]) == 0
    assert recorded_figures == [tmp_path / "figs"] * 2


def test_bad_cases_is_a_usage_error():
    for bad in (["--cases", "0"], ["--deep-cases", "0"]):
        with pytest.raises(SystemExit) as exc:
            flow_demo.main(bad)
        assert exc.value.code == 2


def test_module_entry_point(tmp_path):
    """The real command line, run from another folder (one claim case, no figures): no stray files there."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", "theory.flow_demo", "--json", "--cases", "1", "--deep-cases", "1",
                           "--no-figures"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    data = json.loads(proc.stdout)
    assert len(data) == len(EXPECTED)
    assert proc.returncode == int(any(d["holds"] != d["expected"] for d in data)), proc.stderr
    assert list(tmp_path.iterdir()) == []
