"""The README's promises: its code examples run, and its set-up commands pin torch exactly."""

import re
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
METRICS = re.search(r"## Metrics on your own model\n(.*?)\n## ", README, re.S).group(1)
SNIPPETS = re.findall(r"```python\n(.*?)```", METRICS, re.S)


def run(block: str) -> dict:
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)
    return scope


def test_metrics_example_runs_and_gives_per_sample_values(capsys):
    scope = run(SNIPPETS[0])
    for name in ("li", "di", "si", "s"):
        assert scope[name].shape == (8,)
    assert (scope["li"] > 0).all() and ((scope["si"] >= 0) & (scope["si"] <= 1 + 1e-6)).all()
    assert len(capsys.readouterr().out.split()) == 4


def test_every_metrics_snippet_runs_and_does_what_its_text_says(capsys):
    assert len(SNIPPETS) == 5
    groups = run(SNIPPETS[1])  # your image size, channels and group
    for name in ("li_flip", "li_t4", "si_v", "si_sig", "li_pair"):
        assert groups[name].shape == (8,) and not groups[name].requires_grad, name
    assert groups["V2"].event.shape == (28, 20) and groups["C16"].event.kind == "signal"
    loss = run(SNIPPETS[2])  # the IR loss in a training loop
    assert loss["after"] < loss["before"]
    layers = run(SNIPPETS[3])["layers"]  # layer-wise invariance
    assert list(layers) == ["0", "1", "2", "3", "4", ""]
    assert layers["0"].mean() > 0.5 and all(layers[k].max() < 1e-6 for k in ("2", "3", "4", ""))
    lie = run(SNIPPETS[4])  # the Lie derivative
    assert lie["ld_rotation"].shape == (8,) and (lie["ld_rotation"] > 0).all() and (lie["ld_shift"] > 0).all()
    capsys.readouterr()
    assert "python benchmarks/bench_measures.py" in METRICS and "faster than a per-sample" in METRICS


def test_setup_commands_pin_torch_and_run_the_main_job_and_the_tests():
    commands = re.findall(r"```bash\n(.*?)\n```", README.split("## Set-up")[1], re.S)[:2]
    assert all("torch==2.13.0" in c for c in commands)
    assert commands[0].endswith("python -m theory.flow_demo") and commands[1].endswith("pytest")
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "torch==2.13.0" in ci and "\npytest\n" in ci


# --- "## The experiments": the options every command is said to take ---

def _section(title: str) -> str:
    """The README's text from the heading ``title`` to the next heading of the same or a higher level."""
    level = title.split(" ")[0]
    body = README.split(title + "\n", 1)[1]
    return re.split(r"\n#{1,%d} " % len(level), body, maxsplit=1)[0]


def _parser_of(command: str):
    """The argparse parser ``python -m empirical.<command>`` builds, caught as it parses (no work is done)."""
    import argparse
    import importlib
    from unittest import mock

    import pytest

    class Built(Exception):
        pass

    built = []

    def catch(self, args=None, namespace=None):
        built.append(self)
        raise Built

    with mock.patch.object(argparse.ArgumentParser, "parse_args", catch), pytest.raises(Built):
        importlib.import_module(f"empirical.{command}").main([])
    return built[0]


def test_every_option_the_experiments_section_names_is_taken_by_each_command_it_names():
    section = _section("## The experiments")
    commands = re.findall(r"^\| `python -m empirical\.(\w+)`", section, re.M)
    assert len(commands) >= 10 and {"reproduce", "figure1", "beyond"} <= set(commands)
    paragraph = section[section.index("Each takes"):section.index("Options are checked")]
    options = {c: set(_parser_of(c)._option_string_actions) for c in commands}
    every = re.search(r"Each takes (.*?)\.\s", paragraph, re.S).group(1)
    wanted = re.findall(r"`(--[\w-]+)`", every)
    assert len(wanted) >= 10, wanted
    for c in commands:
        assert set(wanted) <= options[c], f"README: each takes {sorted(set(wanted) - options[c])}; {c} does not"
    # "Each but `a` and `b` takes `--x`": every other command takes it, a and b do not; "`a` takes `--y`": a does
    but = re.search(r"Each but (.*?) takes\s+`(--[\w-]+)`", paragraph, re.S)
    assert but, "the paragraph names the commands that do not take an option every other command takes"
    excluded, option = re.findall(r"`(\w+)`", but.group(1)), but.group(2)
    for c in commands:
        assert (option in options[c]) == (c not in excluded), (c, option)
    own = re.findall(r"`(\w+)`\s+takes\s+(?:one\s+)?`(--[\w-]+)`", paragraph[but.end():])
    assert own and all(opt in options[c] for c, opt in own), own


# --- "### Reproducibility": which engine made the committed outputs ---

def _engines(doc) -> set:
    """Every engine recorded in a provenance ("provenance", or each part's in "part_provenance") of an output."""
    found = set()

    def walk(x, inside: bool) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                if inside and k == "engine":
                    found.add(v)
                walk(v, inside or k in ("provenance", "part_provenance"))
        elif isinstance(x, list):
            for v in x:
                walk(v, inside)

    walk(doc, False)
    return found


def test_the_engine_the_reproducibility_section_names_made_every_committed_output():
    import json

    from empirical.engine.results import ENGINE

    section = _section("### Reproducibility")
    said = re.search(r"Every committed output in\s+`paper_figures/`.*?comes from engine (\d+)", section, re.S)
    assert said, "the section says which engine made the committed outputs"
    engine = int(said.group(1))
    assert engine == ENGINE  # the README calls it today's engine
    folder = Path(__file__).resolve().parents[1] / "paper_figures"
    outputs = sorted(folder.rglob("*.json"))
    assert len(outputs) >= 10 and folder / "beyond" / "beyond.json" in outputs
    for path in outputs:
        engines = _engines(json.loads(path.read_text()))
        assert engines == {engine}, f"{path.name}: provenance engine(s) {engines or 'none recorded'}, README: {engine}"
    bridge = json.loads((folder / "bridge.json").read_text())
    assert {p["engine"] for p in bridge["part_provenance"].values()} == {engine}  # each part, not only the whole


def test_each_command_the_experiments_section_names_and_the_report_log_what_they_wrote():
    """"Each of these commands, and `python -m empirical.report`, ends with one `wrote ...` line": main() logs a
    message starting with "wrote " (tests/empirical/test_commands.py sees the line itself for four commands)."""
    import ast

    section = _section("## The experiments")
    assert re.search(r"Each of these commands, and `python -m empirical\.report`, ends with one\s+`wrote \.\.\.`",
                     section)
    root = Path(__file__).resolve().parents[1] / "empirical"
    commands = re.findall(r"^\| `python -m empirical\.(\w+)`", section, re.M) + ["report"]
    for name in commands:
        path = root / f"{name}.py" if (root / f"{name}.py").exists() else root / name / "__init__.py"
        main = next(n for n in ast.walk(ast.parse(path.read_text()))
                    if isinstance(n, ast.FunctionDef) and n.name == "main")
        logged = [c.args[0].value for c in ast.walk(main) if isinstance(c, ast.Call)
                  and isinstance(c.func, ast.Attribute) and c.func.attr == "info" and c.args
                  and isinstance(c.args[0], ast.Constant)]
        assert any(str(m).startswith("wrote ") for m in logged), f"{name}: main() logs no 'wrote ...' line"
