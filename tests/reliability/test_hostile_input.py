"""Hostile configs and identifiers: bounded, refused with a ``ValidationError`` naming the path
and the limit, and nothing but registry errors escapes the public API (issue 14, items 3 and 5).

Before: a 342-byte YAML file of nested aliases ran ``factorize_from_file`` for over a minute and
gigabytes; ``model: &x [*x]`` or a list 900 deep ended in ``RecursionError``, and ``registry
build`` printed a traceback; an identifier with a lone surrogate raised ``UnicodeEncodeError``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry import FunctionalRegistry, SchemeRegistry, ValidationError, dump_config
from registry.factorize.config_bounds import MAX_CONFIG_DEPTH, MAX_CONFIG_VALUES, check_config
from tests.reliability.conftest import child_env

pytestmark = pytest.mark.slow

#: Nine levels of nine aliases each: 342 bytes that expand to 435,848,050 values.
BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9) if previous else ', '.join(['lol'] * 9)}]\n"
    for previous, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)

LAB = """
from registry import SchemeRegistry

class Lab(SchemeRegistry):
    pass

@Lab.register_artifact
def model(layers: object = None, **extra: object) -> str:
    return "built"
"""


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    (tmp_path / "labmod.py").write_text(LAB)
    return tmp_path


def _bounded(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run with 1 GiB of address space and a minute: an unbounded expansion fails, not hangs."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    env = child_env()
    env["PYTHONPATH"] = f"{cwd}{':' + env['PYTHONPATH'] if env.get('PYTHONPATH') else ''}"
    return subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limit_memory,
        check=False,
    )


CASES = {
    "bomb": (
        "layers:\n" + "".join(f"  {line}\n" for line in BOMB.splitlines()),
        "expands to more than 1,000,000 values at 'layers.g'",
    ),
    "cycle": ("layers: &x [*x]\n", "refers to itself at 'layers.0'"),
    "deep": ("layers: " + "[" * 900 + "]" * 900 + "\n", "nested more than 100 levels deep"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_registry_build_refuses_hostile_files_without_a_traceback(lab: Path, case: str) -> None:
    text, expected = CASES[case]
    (lab / "run.yaml").write_text('_type: "Lab:model"\n' + text)
    done = _bounded(
        [sys.executable, "-m", "registry", "build", "run.yaml", "--import", "labmod"], lab
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("error: "), done.stderr
    assert expected in done.stderr
    assert "hint: " in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("case", list(CASES))
def test_factorize_from_file_refuses_hostile_files(lab: Path, case: str) -> None:
    text, expected = CASES[case]
    (lab / "run.yaml").write_text(text)
    code = (
        "import json\nfrom labmod import Lab\nfrom registry import ValidationError\n"
        "try:\n    Lab.factorize_from_file('model', 'run.yaml')\n"
        "except ValidationError as error:\n    print(json.dumps(error.message))\n"
    )
    began = time.monotonic()
    done = _bounded([sys.executable, "-c", code], lab)
    print(f"config figures: {case} refused in {time.monotonic() - began:.2f} s (whole process)")
    assert done.returncode == 0, done.stderr
    assert expected in json.loads(done.stdout)


def test_python_configs_are_bounded_too() -> None:
    class Lab(SchemeRegistry):
        pass

    @Lab.register_artifact
    def model(layers: object = None) -> str:
        return "built"

    cyclic: list[Any] = []
    cyclic.append(cyclic)
    deep: list[Any] = []
    for _ in range(900):
        deep = [deep]
    shared = ["x"] * 1000
    wide = [shared] * 1001  # 1,002,002 values once expanded
    for layers, expected in (
        (cyclic, "refers to itself"),
        (deep, "nested more than 100"),
        (wide, "expands to more than"),
    ):
        for call in (Lab.factorize_artifact, Lab.check_config):
            with pytest.raises(ValidationError, match=expected) as caught:
                call("model", layers=layers)
            assert caught.value.context["path"].startswith("layers")
        with pytest.raises(ValidationError, match=expected):
            dump_config({"layers": layers}, "unused.yaml")


def test_the_limits_are_where_the_docs_say() -> None:
    deep: Any = "leaf"
    for _ in range(MAX_CONFIG_DEPTH):
        deep = [deep]
    check_config(deep)  # exactly at the limit: 100 nested lists
    with pytest.raises(ValidationError, match=f"more than {MAX_CONFIG_DEPTH} levels"):
        check_config([deep])
    check_config([0] * (MAX_CONFIG_VALUES - 1))
    with pytest.raises(ValidationError, match=f"more than {MAX_CONFIG_VALUES:,} values"):
        check_config([0] * MAX_CONFIG_VALUES)


class Hostile(FunctionalRegistry):
    pass


def _double(x: int) -> int:
    return 2 * x


Hostile.register_artifact("double", _double)


#: Text including lone surrogates (hypothesis leaves them out by default) and the classics.
IDENTIFIERS = (
    st.text(max_size=300)
    | st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3)
    | st.sampled_from(["a\x00", "\ud800", "a b", "x" * 256, "..", "%2E", "a:b"])
)


@given(identifier=IDENTIFIERS)
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
def test_nothing_but_registry_errors_escape_for_any_identifier(identifier: str) -> None:
    calls = [
        lambda: Hostile.get_artifact(identifier),
        lambda: Hostile.has_identifier(identifier),
        lambda: Hostile.register_artifact(identifier, _double),
        lambda: Hostile.unregister_identifier(identifier),
        lambda: Hostile.history(identifier),
        lambda: Hostile.factorize_artifact(identifier, x=1),
        lambda: Hostile.factorize_artifact("double", **{identifier: 1}),
    ]
    for call in calls:
        try:
            call()
        except ValidationError:
            pass


@pytest.fixture(scope="module")
def persistent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[type[FunctionalRegistry]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'store.db'}"

    class Stored(FunctionalRegistry, logic_namespace="lab.hostile", url=url):
        pass

    yield Stored
    Stored._store.close()  # stop its watcher thread


@given(identifier=IDENTIFIERS)
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
def test_a_sqlite_store_raises_only_registry_errors_for_any_identifier(
    persistent: type[FunctionalRegistry], identifier: str
) -> None:
    for call in (
        lambda: persistent.register_artifact(identifier, _double),
        lambda: persistent.get_artifact(identifier),
        lambda: persistent.unregister_identifier(identifier),
    ):
        try:
            call()
        except ValidationError:
            pass
