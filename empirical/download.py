"""``python -m empirical.download [--data-dir DIR]``: find or fetch MNIST and Fashion-MNIST; print where they are.

The lookup order and the verified, atomic download are ``empirical.data.download``'s.
"""

from __future__ import annotations

import sys
from typing import Sequence

from empirical.data.download import DataError, DataNotFoundError, locate

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Find or download MNIST and Fashion-MNIST (``python -m empirical.data.download``); print where they are."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m empirical.data.download", description=main.__doc__)
    parser.add_argument("--data-dir", default=None, help="download into DIR/<dataset> (default: $INVARIANCE_DATA, "
                                                          "else the user cache)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        for dataset in ("mnist", "fashion-mnist"):
            print(f"{dataset}: {locate(dataset, args.data_dir, quiet=args.quiet)}")
    except (DataError, DataNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
