"""A module whose __all__ lists what registries may take from it."""

from math import sqrt

__all__ = ["add", "Point", "scale"]


def add(a: int, b: int) -> int:
    return a + b


def scale(x: float, factor: float = 2.0) -> float:
    return x * factor


def _private(x: int) -> int:
    return x


def not_exported(x: int) -> int:
    return x


class Point:
    def __init__(self, x: float, y: float = 0.0) -> None:
        self.x = x
        self.y = y


imported = sqrt
