"""Lab code the tour registers persistently: importable, so it is stored by import path."""

from __future__ import annotations


def focal(y_true: float, y_pred: float, gamma: float = 2.0) -> float:
    """Focal-style loss on one prediction."""
    error = abs(y_true - y_pred)
    return float(error**gamma)


def hinge(y_true: float, y_pred: float, margin: float = 1.0) -> float:
    """Hinge loss on one prediction."""
    return max(0.0, margin - y_true * y_pred)
