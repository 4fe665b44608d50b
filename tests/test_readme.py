"""The README's promises: its code example runs, and its set-up commands pin torch exactly."""

import re
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_metrics_example_runs_and_gives_per_sample_values(capsys):
    block = re.search(r"## Metrics on your own model.*?```python\n(.*?)```", README, re.S).group(1)
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)
    for name in ("li", "di", "si", "s"):
        assert scope[name].shape == (8,)
    assert (scope["li"] > 0).all() and ((scope["si"] >= 0) & (scope["si"] <= 1 + 1e-6)).all()
    assert len(capsys.readouterr().out.split()) == 4


def test_setup_commands_pin_torch_and_run_the_main_job_and_the_tests():
    commands = re.findall(r"```bash\n(.*?)\n```", README.split("## Set-up")[1], re.S)[:2]
    assert all("torch==2.13.0" in c for c in commands)
    assert commands[0].endswith("python -m theory.flow_demo") and commands[1].endswith("pytest")
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "torch==2.13.0" in ci and "\npytest\n" in ci
