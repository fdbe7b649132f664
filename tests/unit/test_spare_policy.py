"""How many spares a model needs in a region: ``max(ceil(installed × ratio), minimum)``, exact in spite of
binary floating point."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.inventory.models import DEFAULT_SPARE_RATIO
from backend.inventory.services import required_spares


@pytest.mark.parametrize(
    ("installed", "ratio", "minimum", "required"),
    [
        (300, 0.01, 0, 3),  # 300 × 0.01 is 3.0000000000000004 in floating point: still 3
        (301, 0.01, 0, 4),  # 3.01 rounds up
        (299, 0.01, 0, 3),
        (100, 0.01, 0, 1),
        (1, 0.01, 0, 1),  # one installed unit already needs a spare
        (0, 0.01, 0, 0),
        (0, 0.01, 2, 2),  # nothing installed, but the policy keeps a minimum
        (0, 0.0, 3, 3),
        (250, 0.01, 5, 5),  # the minimum wins over ceil(2.5) = 3
        (700, 0.01, 5, 7),  # the ratio wins over the minimum
        (700, 0.01, 7, 7),
        (100, 0.07, 0, 7),  # 7.000000000000001
        (30, 0.1, 0, 3),  # 3.0000000000000004
        (10, 0.3, 0, 3),  # 3.0000000000000004 (0.1 + 0.2 style)
        (100, 0.29, 0, 29),  # 28.999999999999996: rounding must not lose a spare either
        (100, 0.57, 0, 57),  # 56.99999999999999
        (3000, 0.01, 0, 30),
        (3001, 0.01, 0, 31),
        (1_000_000, 0.01, 0, 10_000),
        (7, 1.0, 0, 7),
        (7, 0.0, 0, 0),
        (1000, 0.001, 0, 1),
        (1001, 0.001, 0, 2),
        (1, 0.5, 0, 1),
        (3, 0.5, 0, 2),
    ],
)
def test_required_spares(installed: int, ratio: float, minimum: int, required: int):
    assert required_spares(installed, ratio, minimum) == required


def test_the_default_ratio_is_one_percent():
    assert DEFAULT_SPARE_RATIO == 0.01
    assert required_spares(300, DEFAULT_SPARE_RATIO, 0) == 3


def test_an_int_is_returned():
    assert type(required_spares(300, 0.01, 0)) is int
    assert type(required_spares(0, 0.01, 2)) is int


@given(
    installed=st.integers(0, 1_000_000),
    percent=st.integers(0, 100),
    minimum=st.integers(0, 50),
)
def test_whole_percent_ratios_are_exact(installed: int, percent: int, minimum: int):
    """A ratio typed as a whole percentage gives the exact ceiling, never one spare too many or few."""
    exact = -(-installed * percent // 100)  # integer ceiling
    assert required_spares(installed, percent / 100, minimum) == max(exact, minimum)


@given(
    installed=st.integers(0, 1_000_000),
    per_mille=st.integers(0, 1000),
    minimum=st.integers(0, 50),
)
def test_per_mille_ratios_are_exact(installed: int, per_mille: int, minimum: int):
    exact = math.ceil(Fraction(installed * per_mille, 1000))
    assert required_spares(installed, per_mille / 1000, minimum) == max(exact, minimum)


@given(
    installed=st.integers(0, 100_000),
    ratio=st.floats(0, 1, allow_nan=False),
    minimum=st.integers(0, 20),
)
def test_never_below_the_minimum_and_grows_with_the_installed_base(
    installed: int, ratio: float, minimum: int
):
    required = required_spares(installed, ratio, minimum)
    assert required >= minimum
    assert required >= math.floor(installed * ratio)
    assert required <= max(math.ceil(installed * ratio), minimum)
    assert required_spares(installed + 1, ratio, minimum) >= required
