import math

import pytest
from vnetbench.stats import summarize


def test_summary_matches_hand_computation():
    # values 2, 4, 4, 4, 5, 5, 7, 9: mean 5, sum of squares 32, sample var 32/7
    s = summarize([2, 4, 4, 4, 5, 5, 7, 9])
    assert s.n == 8
    assert s.mean == 5
    assert s.std == pytest.approx(math.sqrt(32 / 7))
    assert s.cv == pytest.approx(math.sqrt(32 / 7) / 5)
    assert s.median == 4.5
    assert (s.min, s.max) == (2, 9)


def test_odd_count_median_and_single_value():
    assert summarize([3, 1, 2]).median == 2
    one = summarize([7.5])
    assert one.n == 1 and one.mean == 7.5 and math.isnan(one.std) and math.isnan(one.cv)


def test_empty_is_an_error():
    with pytest.raises(ValueError):
        summarize([])
