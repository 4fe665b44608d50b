"""Numbers as text: values too small for the decimals are shown, not rounded to a signed zero."""

import pytest

from empirical.paper.numbers import fmt


@pytest.mark.parametrize("x, digits, text", [
    (0.0, 2, "0.00"), (-0.0, 2, "0.00"), (1.234, 2, "1.23"), (-1.234, 1, "-1.2"),
    (1e-3, 2, "1.0e-03"), (-4.2e-11, 2, "-4.2e-11"), (0.005, 2, "0.01"), (0.0049, 2, "4.9e-03"),
    (None, 2, "-"), (float("nan"), 2, "nan"), (float("inf"), 3, "inf")])
def test_fmt(x, digits, text):
    assert fmt(x, digits) == text


def test_no_signed_zero_for_any_small_value():
    for e in range(3, 12):
        for sign in (1, -1):
            assert fmt(sign * 10.0 ** -e) not in ("0.00", "-0.00")
