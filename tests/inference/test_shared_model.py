"""One model load per session: callers that come while the load runs wait for it."""

from __future__ import annotations

import threading

import pytest

from lunglens.inference import ModelError, SharedModel


def test_callers_during_the_load_wait_for_it_and_share_its_model():
    started, release, loads = threading.Event(), threading.Event(), []

    def slow_load():
        loads.append(object())
        started.set()
        release.wait(10)
        return loads[-1]

    shared = SharedModel(slow_load)
    got = []
    threads = [threading.Thread(target=lambda: got.append(shared.get())) for _ in range(3)]
    threads[0].start()
    assert started.wait(10)
    for thread in threads[1:]:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(10)
    assert len(loads) == 1 and got == [loads[0]] * 3
    assert shared.get() is loads[0]


def test_a_failed_load_is_reported_to_every_caller_and_not_retried():
    calls = []

    def broken():
        calls.append(1)
        raise ModelError("m.json: model card not found")

    shared = SharedModel(broken)
    for _ in range(2):
        with pytest.raises(ModelError, match="card not found"):
            shared.get()
    assert calls == [1]
