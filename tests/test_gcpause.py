"""``gcpause.paused``: the collector is off inside, back as it was after, also when nested."""

from __future__ import annotations

import gc
import threading

import pytest

from registry import gcpause


def test_pauses_nest_and_restore() -> None:
    assert gc.isenabled()
    with gcpause.paused():
        assert not gc.isenabled()
        with gcpause.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()


def test_an_error_inside_restores_the_collector() -> None:
    with pytest.raises(ValueError), gcpause.paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled() -> None:
    gc.disable()
    try:
        with gcpause.paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overlapping_pauses_from_threads() -> None:
    inside = threading.Barrier(2)
    leave = threading.Event()

    def hold() -> None:
        with gcpause.paused():
            inside.wait()
            leave.wait()

    thread = threading.Thread(target=hold)
    thread.start()
    with gcpause.paused():
        inside.wait()
    assert not gc.isenabled()  # the other thread's pause is still open
    leave.set()
    thread.join()
    assert gc.isenabled()
