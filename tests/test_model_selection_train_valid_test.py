"""Tests for :func:`dos_estimators.model_selection.train_valid_test_split`."""

import numpy as np
import pytest

from dos_estimators.model_selection import train_valid_test_split


def _split(n=1521, **kwargs):
    kwargs.setdefault("random_state", 0)
    return train_valid_test_split(range(n), np.arange(n), **kwargs)


def test_sizes_of_the_phonon_set():
    parts = _split()
    assert [len(p) for p in parts] == [1216, 152, 153, 1216, 152, 153]


def test_sizes_small():
    assert [len(p) for p in _split(10)] == [8, 1, 1, 8, 1, 1]


@pytest.mark.parametrize(
    ("n", "valid_size", "test_size", "expected"),
    [
        (50, 0.2, 0.2, (30, 10, 10)),
        (1000, 0.15, 0.15, (700, 150, 150)),
        # valid_size and test_size are fractions of all samples: 0.2 of 100 is 20.
        (100, 0.2, 0.3, (50, 20, 30)),
        (200, 0.1, 0.3, (120, 20, 60)),
        (10, 0.2, 0.3, (5, 2, 3)),
    ],
)
def test_custom_sizes(n, valid_size, test_size, expected):
    X_train, X_valid, X_test, *_ = _split(n, valid_size=valid_size, test_size=test_size)
    assert (len(X_train), len(X_valid), len(X_test)) == expected


def test_x_and_y_stay_aligned():
    n = 200
    X = [f"s{i}" for i in range(n)]
    y = np.arange(n) * 10
    X_train, X_valid, X_test, y_train, y_valid, y_test = train_valid_test_split(
        X, y, random_state=3
    )
    for xs, ys in ((X_train, y_train), (X_valid, y_valid), (X_test, y_test)):
        assert [int(x[1:]) * 10 for x in xs] == list(ys)


def test_multioutput_targets_keep_their_rows():
    y = np.arange(60).reshape(20, 3)
    _, _, _, y_train, y_valid, y_test = train_valid_test_split(list(range(20)), y, random_state=0)
    assert y_train.shape[1] == y_valid.shape[1] == y_test.shape[1] == 3
    rows = np.concatenate([y_train, y_valid, y_test])
    np.testing.assert_array_equal(rows[:, 1] - rows[:, 0], 1)


def test_deterministic_with_same_seed():
    first = _split(random_state=42)
    second = _split(random_state=42)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_different_seeds_give_different_splits():
    assert list(_split(random_state=0)[2]) != list(_split(random_state=1)[2])


def test_parts_are_disjoint_and_cover():
    n = 1521
    X_train, X_valid, X_test, y_train, y_valid, y_test = _split(n)
    train, valid, test = set(X_train), set(X_valid), set(X_test)
    assert not train & valid
    assert not train & test
    assert not valid & test
    assert train | valid | test == set(range(n))
    assert len(X_train) + len(X_valid) + len(X_test) == n
    np.testing.assert_array_equal(np.sort(np.concatenate([y_train, y_valid, y_test])), np.arange(n))


def test_split_is_shuffled():
    X_train, *_ = _split(100)
    assert list(X_train) != sorted(X_train)


@pytest.mark.parametrize(
    ("valid_size", "test_size"),
    [(0.0, 0.1), (0.1, 0.0), (1.0, 0.1), (0.1, 1.0), (-0.1, 0.1), (0.5, 0.5), (0.6, 0.5)],
)
def test_invalid_sizes_raise(valid_size, test_size):
    with pytest.raises(ValueError, match="valid_size and test_size"):
        _split(50, valid_size=valid_size, test_size=test_size)


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError):
        train_valid_test_split(list(range(10)), np.arange(9), random_state=0)
