"""``python -m empirical.bridge``: the theory's predictions tested on the trained networks (see the package)."""

from empirical.bridge import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
