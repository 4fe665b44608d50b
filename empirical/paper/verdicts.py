"""The verdict vocabulary of every claim ledger (CLAIMS.md): one word from per-group (or per-part) tests."""

from __future__ import annotations

__all__ = ["judge"]


def judge(pred: dict[str, bool]) -> str:
    """'holds' when every key passes its criterion, 'fails' when none does, else 'holds only for <keys>'."""
    ok = [k for k, v in pred.items() if v]
    if len(ok) == len(pred):
        return "holds"
    return "fails" if not ok else f"holds only for {', '.join(ok)}"
