"""The house rules, checked on the source: each folder is a layer importing only the layers under it; commands
never import each other; few import floors; one atomic write."""

import ast
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Bottom to top. A module imports only modules of its own layer or a lower one (theory is below them all).
LAYERS = ("measure", "data", "engine", "paper")
# The commands (one `python -m` each); they import any layer, never each other (reproduce and beyond run them
# by name). empirical.cli, the options they share, is the one non-command module at their level.
COMMANDS = ("empirical.table1", "empirical.drift", "empirical.spectral", "empirical.saliency", "empirical.bridge",
            "empirical.report", "empirical.reproduce", "empirical.beyond", "empirical.figure1", "empirical.latent",
            "empirical.conventions", "empirical.download", "empirical.scaling", "empirical.audit")


def module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.exists():
            return p
    return None


def all_modules() -> list[str]:
    out = []
    for top in ("empirical", "theory"):
        for p in sorted((ROOT / top).rglob("*.py")):
            parts = p.relative_to(ROOT).with_suffix("").parts
            out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


@lru_cache(maxsize=None)
def imports(name: str) -> frozenset[str]:
    """The empirical.* / theory.* modules ``name`` imports anywhere in its source (function-level included)."""
    path = module_file(name)
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:  # relative: resolve against the package
                pkg = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join(pkg[: len(pkg) - node.level + 1] + [node.module])
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names if module_file(f"{base}.{a.name}")}
    return frozenset(m for m in found if m.split(".")[0] in ("empirical", "theory") and module_file(m))


def layer(name: str) -> int:
    """theory 0; measure 1 ... paper 4; the commands and cli 5; the package's public face counts as measure."""
    parts = name.split(".")
    if parts[0] == "theory":
        return 0
    if name == "empirical":
        return 1
    return LAYERS.index(parts[1]) + 1 if parts[1] in LAYERS else len(LAYERS) + 1


def reachable(name: str) -> set[str]:
    seen, todo = set(), [name]
    while todo:
        for dep in imports(todo.pop()):
            parts = dep.split(".")  # importing a.b.c runs a's and a.b's __init__ too
            for i in range(1, len(parts) + 1):
                sub = ".".join(parts[:i])
                if sub not in seen and module_file(sub):
                    seen.add(sub)
                    todo.append(sub)
    return seen


@pytest.mark.parametrize("module", all_modules())
def test_a_module_imports_only_its_layer_and_those_under_it(module):
    up = sorted(m for m in imports(module) if layer(m) > layer(module))
    assert not up, f"{module} (layer {layer(module)}) imports the higher layer(s) {up}"


def test_theory_imports_no_torch_and_nothing_of_empirical():
    for module in (m for m in all_modules() if m.startswith("theory")):
        tree = ast.parse(module_file(module).read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not {x for x in names if x.split(".")[0] in ("torch", "empirical")}, module


@pytest.mark.parametrize("command", COMMANDS)
def test_no_command_imports_another(command):
    others = set(COMMANDS) - {command}
    bad = {m for m in reachable(command) if m in others or any(m.startswith(o + ".") for o in others)}
    assert not bad, f"{command} imports the command(s) {sorted(bad)}: move what they share into a layer below"


def room(module: str) -> str:
    """The unit a floor counts: theory/, a layer folder, the bridge command's folder, or a top-level file."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "empirical" and len(parts) > 2 else parts[0] if parts[0] == "theory" \
        else module


def test_at_most_eight_import_floors():
    # A room's floor is 1 + the highest floor it imports from (imports inside a room do not raise it).
    deps: dict[str, set[str]] = {}
    for m in all_modules():
        deps.setdefault(room(m), set()).update(room(d) for d in imports(m) if room(d) != room(m))
    deps.pop("empirical", None)  # the public face re-exports measure; nothing inside imports it
    for d in deps.values():
        d.discard("empirical")

    @lru_cache(maxsize=None)
    def floor(r: str) -> int:
        return 1 + max((floor(d) for d in deps.get(r, ())), default=0)

    floors = {r: floor(r) for r in deps}
    assert max(floors.values()) <= 8, sorted(floors.items(), key=lambda kv: -kv[1])


def test_one_atomic_write():
    # The temporary-file-fsync-rename write exists once, in theory.atomic; everything that writes a file uses it.
    # (The store's os.replace moves a corrupt entry aside: a rename, not a write.)
    sources = [p for top in ("empirical", "theory") for p in (ROOT / top).rglob("*.py")]
    writers = sorted(str(p.relative_to(ROOT)) for p in sources if "fsync(" in p.read_text())
    assert writers == ["theory/atomic.py"], writers
    renames = sorted(str(p.relative_to(ROOT)) for p in sources if "os.replace(" in p.read_text())
    assert renames == ["empirical/engine/store.py", "theory/atomic.py"], renames
    assert not [p for p in sources if "mkstemp(" in p.read_text()]
