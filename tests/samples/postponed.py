"""Artifacts annotated under postponed evaluation (PEP 563)."""

from __future__ import annotations

from typing import Protocol


class Score:
    value: float = 0.0


def double(x: int) -> int:
    return 2 * x


def to_score(x: int) -> Score:
    return Score()


class Scorer(Protocol):
    def score(self, x: int) -> float: ...


class GoodScorer:
    def score(self, x: int) -> float:
        return float(x)
