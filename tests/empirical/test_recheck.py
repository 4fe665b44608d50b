"""empirical.recheck: a table's runs trained again give its numbers, and a table they do not is named."""

import json

import pytest
import torch

from empirical import recheck, table1
from empirical.engine.context import Context, Scale
from tests.fixtures import FIXTURE_DATA

TINY = Scale(n_train=200, n_val=50, n_test=100, epochs=2, n_saliency=4, n_jacobian=4, ig_steps=4, seeds=2)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """A two-seed R4 table made by empirical.table1 on the fixture data, as its command writes it."""
    tmp = tmp_path_factory.mktemp("table")
    ctx = Context(scale=TINY, device=torch.device("cpu"), data_dir=str(FIXTURE_DATA), out=tmp, cache_dir=tmp / "c",
                  quiet=True)
    path = tmp / "table1.json"
    path.write_text(json.dumps(table1.table1(ctx, ("R4",))))
    return path


def run(path, capsys, *args):
    code = recheck.main([str(path), "--data-dir", str(FIXTURE_DATA), "--quiet", *args])
    return code, capsys.readouterr()


def test_the_runs_of_a_table_this_code_made_give_its_numbers(table, capsys):
    code, out = run(table, capsys, "--model", "DA", "IR", "--seed", "1")
    assert code == 0, out.out
    assert out.out.count(": the same") == 2 and "2 of 2 run(s) give the committed numbers" in out.out


def test_a_table_whose_numbers_its_runs_do_not_give_is_named(table, tmp_path, capsys):
    doc = json.loads(table.read_text())
    da = next(r for r in doc["rows"] if r["model"] == "DA")
    da["per_seed"][0]["LI"] *= 1 + 1e-5  # a last-digits difference, as other bits make
    tampered = tmp_path / "table1.json"
    tampered.write_text(json.dumps(doc))
    code, out = run(tampered, capsys, "--model", "DA", "WT")
    assert code == 1 and "R4 DA seed 0" in out.out and "DIFFERENT" in out.out
    assert "1 of 2 run(s) give the committed numbers; 1 do not" in out.out


@pytest.mark.parametrize("args, words", [
    (["--group", "T3"], "the table has no group T3; it has R4"),
    (["--seed", "5"], "the table has no seed 5; it has 0, 1"),
    (["--model", "CNN"], "the table has no model CNN"),
])
def test_a_run_the_table_does_not_hold_is_one_line_naming_what_it_holds(table, capsys, args, words):
    code, out = run(table, capsys, *args)
    assert code == 2 and words in out.err and len(out.err.strip().splitlines()) == 1


def test_a_file_that_is_not_a_table_is_one_line(tmp_path, capsys):
    bad = tmp_path / "table1.json"
    bad.write_text(json.dumps({"rows": []}))
    code, out = run(bad, capsys)
    assert code == 2 and "not a table of python -m empirical.table1" in out.err
    code, out = run(tmp_path / "fig5_spectral.json", capsys)
    assert code == 2 and "not a table of empirical.table1 (table1.json or table1_<arch>.json" in out.err
    assert recheck.arch_of(tmp_path / "table1_cnn.json") == "cnn"
