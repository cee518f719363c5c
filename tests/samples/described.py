"""An artifact whose parameters cover what a stored JSON Schema can describe."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Annotated, Literal

from pydantic import Field

from tests.samples.mathfuncs import Point


@dataclasses.dataclass
class Window:
    size: int
    stride: int = 1


def experiment(
    count: int,
    ratio: float = 0.5,
    name: str = "run",
    tags: list[str] | None = None,
    when: datetime.date | None = None,
    mode: Literal["fast", "slow"] = "fast",
    limits: dict[str, float] | None = None,
    pair: tuple[int, str] = (1, "a"),
    level: Annotated[int, Field(ge=0, le=10)] = 0,
    unique: set[int] | None = None,
    origin: Point | None = None,
    model_config: dict[str, int] | None = None,
    window: Window | None = None,
) -> dict[str, object]:
    """Run an experiment."""
    return dict(locals())
