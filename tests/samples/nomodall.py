"""A module without __all__: registries take what it defines, not what it imports."""

from math import sqrt  # noqa: F401  (imported, must not be registered)
from os.path import join as joined  # noqa: F401


def first(x: int) -> int:
    return x


def second(x: int) -> int:
    return x


class Shape:
    pass


class Square(Shape):
    pass
