"""``python -m theory.flow_demo``: table, --json, --quiet, figures, reproducibility (run in-process)."""

import io
import json
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from tests.theory.test_claims import EXPECTED as LINEAR_EXPECTED
from tests.theory.test_deep_claims import EXPECTED as DEEP_EXPECTED
from theory import flow_demo
from theory.figures import FIGURES as LINEAR_FIGURES

PNG = b"\x89PNG\r\n\x1a\n"


ARGS = ["--json", "--cases", "3", "--deep-cases", "2", "--seed", "5"]
EXPECTED = {**LINEAR_EXPECTED, **DEEP_EXPECTED}
FIGURES = (*LINEAR_FIGURES, "deep_spectral.png")


def run(argv):
    """main(argv) in-process; (exit code, stdout)."""
    buf = io.StringIO()
    with redirect_stdout(buf):
        code = flow_demo.main(argv)
    return code, buf.getvalue()


@pytest.fixture(scope="module")
def json_run(tmp_path_factory):
    """One --json run with figures: (exit code, raw stdout, parsed JSON, figure folder)."""
    out = tmp_path_factory.mktemp("figs")
    code, stdout = run(ARGS + ["--out", str(out)])
    return code, stdout, json.loads(stdout), out


def test_json_lists_every_claim(json_run):
    code, _, data, _ = json_run
    assert code == 0
    assert [d["claim"] for d in data] == list(EXPECTED)
    for d in data:
        assert {"claim", "statement", "holds", "cases", "worst_ratio", "counterexample"} <= set(d)
        assert isinstance(d["holds"], bool) and d["cases"] >= 1
        assert (d["counterexample"] is None) == d["holds"]
        if d["counterexample"] is not None:
            assert "ratio" in d["counterexample"]
    # the claims that hold hold on any seed; refuted ones may need more than 3 cases to be caught
    for d in data:
        if EXPECTED[d["claim"]]:
            assert d["holds"], d


def test_figures_are_written(json_run):
    _, _, _, out = json_run
    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 5_000
    assert not list(out.glob("*.tmp")), "atomic writes leave no temporary files"


def test_same_seed_same_output(json_run, tmp_path):
    _, first, _, out = json_run
    code, again = run(ARGS + ["--out", str(tmp_path)])
    assert code == 0 and again == first
    for name in FIGURES:
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes()
    code, other = run(["--json", "--cases", "3", "--deep-cases", "2", "--seed", "6", "--no-figures"])
    assert code == 0 and other != first


def test_table_and_quiet(tmp_path):
    code, table = run(["--cases", "2", "--deep-cases", "1", "--no-figures"])
    assert code == 0
    for claim in EXPECTED:
        assert claim in table
    assert "REFUTED" in table and "holds" in table
    code, quiet = run(["--cases", "1", "--deep-cases", "1", "--quiet", "--no-figures"])
    assert code == 0 and quiet == ""


def test_bad_cases_is_a_usage_error():
    for bad in (["--cases", "0"], ["--deep-cases", "0"]):
        with pytest.raises(SystemExit) as exc:
            flow_demo.main(bad)
        assert exc.value.code == 2


def test_module_entry_point(tmp_path):
    """The real command line, as a user runs it (one claim case, no figures)."""
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-m", "theory.flow_demo", "--json", "--cases", "1", "--deep-cases", "1",
                           "--no-figures"],
                          cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)) == len(EXPECTED)
