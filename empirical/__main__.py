"""``python -m empirical``: the list of commands, one line each (read from their sources; nothing is imported)."""

from __future__ import annotations

import ast
import re
from pathlib import Path


def commands() -> list[tuple[str, str]]:
    """(name, first docstring line) of every ``python -m empirical.<name>`` command, in name order."""
    here = Path(__file__).resolve().parent
    out = []
    for path in sorted([*here.glob("*.py"), *here.glob("*/__main__.py")]):
        name = path.parent.name if path.name == "__main__.py" else path.stem
        if name.startswith("_") or name in ("cli", "empirical"):
            continue
        source = path.read_text()
        if "__main__" not in source:
            continue
        doc = ast.get_docstring(ast.parse(source)) or ""
        line = doc.strip().splitlines()[0] if doc.strip() else ""
        out.append((name, re.sub(r"^``python -m [\w.]+[^`]*``: ", "", line)))
    return out


def main() -> int:
    rows = commands()
    width = max(len(n) for n, _ in rows)
    print("python -m empirical.<command> --help for its options; the commands:")
    for name, line in rows:
        print(f"  {name:<{width}}  {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
