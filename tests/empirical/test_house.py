"""The house rules, checked on the source: commands never import each other; one atomic write; keys stay valid."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The experiment commands (each writes outputs from the grid); reproduce runs them by name, importing none.
COMMANDS = ("empirical.table1", "empirical.drift", "empirical.spectral", "empirical.saliency", "empirical.bridge",
            "empirical.report", "empirical.reproduce", "empirical.beyond", "empirical.figure1", "empirical.latent",
            "empirical.conventions")


def module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.exists():
            return p
    return None


def imports(name: str) -> set[str]:
    """The empirical.* modules ``name`` imports anywhere in its source (function-level imports included)."""
    tree = ast.parse(module_file(name).read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:  # relative: resolve against the package
                pkg = name.split(".")[: -node.level] if not module_file(name).name == "__init__.py" else \
                    name.split(".")[: len(name.split(".")) - node.level + 1]
                base = ".".join(pkg + [node.module])
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names if module_file(f"{base}.{a.name}")}
    return {m for m in found if m.startswith("empirical") and module_file(m)}


def reachable(name: str) -> set[str]:
    seen, todo = set(), [name]
    while todo:
        m = todo.pop()
        for dep in imports(m):
            # importing empirical.a.b runs empirical.a's __init__ too
            parts = dep.split(".")
            for i in range(2, len(parts) + 1):
                sub = ".".join(parts[:i])
                if sub not in seen and module_file(sub):
                    seen.add(sub)
                    todo.append(sub)
    return seen


@pytest.mark.parametrize("command", COMMANDS)
def test_no_command_imports_another(command):
    others = set(COMMANDS) - {command}
    bad = {m for m in reachable(command) if m in others or any(m.startswith(o + ".__main__") for o in others)}
    assert not bad, f"{command} imports the command(s) {sorted(bad)}: move what they share into empirical.grid"


def test_one_atomic_write():
    # os.replace (the rename that makes a write atomic) appears only in the store and the downloader's stream
    users = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("empirical/**/*.py") if "os.replace(" in p.read_text())
    assert users == ["empirical/download.py", "empirical/store.py"], users
