import math

import numpy as np
import pytest

from vietai_compress.checks import check_choice, check_int, check_real


def test_check_int_accepts_ints_in_range_and_numpy_ints():
    assert check_int(3, "n", 1, 5) == 3 and check_int(np.int64(2), "n", 0) == 2
    assert isinstance(check_int(np.int64(2), "n"), int)


@pytest.mark.parametrize("value, error", [(True, TypeError), (2.0, TypeError), ("2", TypeError), (None, TypeError),
                                          (0, ValueError), (6, ValueError)])
def test_check_int_type_error_for_a_wrong_type_value_error_for_out_of_range(value, error):
    with pytest.raises(error, match=r"n must be an int"):
        check_int(value, "n", 1, 5)


def test_check_int_names_the_range():
    with pytest.raises(ValueError, match=r"in \[1, 5\], got 9"):
        check_int(9, "n", 1, 5)
    with pytest.raises(ValueError, match=">= 0, got -1"):
        check_int(-1, "n", 0)


@pytest.mark.parametrize("value, error", [("1", TypeError), (True, TypeError), (None, TypeError),
                                          (math.nan, ValueError), (math.inf, ValueError), (-0.5, ValueError),
                                          (0.0, ValueError)])
def test_check_real(value, error):
    with pytest.raises(error, match="x must be a"):
        check_real(value, "x", 0.0, 10.0, low_open=True)
    assert check_real(3, "x", 0.0) == 3.0 and isinstance(check_real(3, "x"), float)


def test_check_choice():
    assert check_choice("a", "kind", ("a", "b")) == "a"
    with pytest.raises(ValueError, match=r"kind must be one of \('a', 'b'\), got 'c'"):
        check_choice("c", "kind", ("a", "b"))
    with pytest.raises(TypeError, match="kind must be a string"):
        check_choice(1, "kind", ("a", "b"))
