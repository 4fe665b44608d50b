"""Numbers as text for tables and consoles: fixed decimals, never a misleading '0.00' or '-0.00'."""

from __future__ import annotations

import math

__all__ = ["fmt"]


def fmt(x: float | None, digits: int = 2) -> str:
    """``x`` with ``digits`` decimals; a nonzero value too small for them in scientific notation; None as '-'."""
    if x is None:
        return "-"
    x = float(x)
    if x == 0.0:
        return f"{0.0:.{digits}f}"  # also turns -0.0 into 0.00
    if not math.isfinite(x):
        return str(x)
    if abs(x) < 0.5 * 10.0 ** -digits:  # would print as 0.00 or -0.00
        return f"{x:.1e}"
    return f"{x:.{digits}f}"
