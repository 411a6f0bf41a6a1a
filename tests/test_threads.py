"""A process's thread budget (LUNGLENS_THREADS): a batch worker's share of the cores, honoured by
the slice decoder and by onnxruntime."""

from __future__ import annotations

import importlib
import os
import threading

import cv2
import pytest

from lunglens.batch.task import hold_opencv_to_budget
from lunglens.threads import THREADS_VARIABLE, available_cores, side_thread, thread_budget, thread_count

load_module = importlib.import_module("lunglens.io.load")  # the module (lunglens.io.load is the function)


@pytest.fixture
def eight_cores(monkeypatch):
    """A process given 8 cores, whatever this machine has (a budget is capped to the cores)."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(8)))


@pytest.mark.parametrize(
    ("value", "budget"), [("1", 1), ("3", 3), ("0", None), ("-2", None), ("two", None), ("", None)]
)
def test_thread_budget_reads_a_positive_integer(monkeypatch, eight_cores, value, budget):
    monkeypatch.setenv(THREADS_VARIABLE, value)
    assert thread_budget() == budget


def test_a_budget_above_the_cores_is_the_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(2)))
    monkeypatch.setenv(THREADS_VARIABLE, "100")
    assert thread_budget() == 2 and thread_count() == 2


def test_without_a_budget_there_is_none(monkeypatch):
    monkeypatch.delenv(THREADS_VARIABLE, raising=False)
    assert thread_budget() is None


def test_the_decoder_uses_the_budget_else_the_cores(monkeypatch, eight_cores):
    monkeypatch.setenv(THREADS_VARIABLE, "1")
    assert load_module._workers() == 1
    monkeypatch.setenv(THREADS_VARIABLE, "50")
    assert load_module._workers() == 8
    monkeypatch.delenv(THREADS_VARIABLE)
    assert load_module._workers() == max(1, min(8, available_cores()))


def test_onnxruntime_uses_the_budget(monkeypatch):
    from lunglens.inference import session

    monkeypatch.setenv(THREADS_VARIABLE, "1")
    model = session.load_model(provider="cpu")
    assert model.session.get_session_options().intra_op_num_threads == 1


def test_thread_count_is_the_budget_else_the_cores(monkeypatch):
    monkeypatch.setenv(THREADS_VARIABLE, "1")
    assert thread_count() == 1
    monkeypatch.delenv(THREADS_VARIABLE)
    assert thread_count() == available_cores()


def test_a_side_thread_with_a_budget_of_one_runs_jobs_in_the_callers_thread(monkeypatch):
    monkeypatch.setenv(THREADS_VARIABLE, "1")
    with side_thread() as side:
        ran_in = side.submit(threading.get_ident)
        failed = side.submit(int, "not a number")
        keywords = side.submit(int, "ff", base=16)
    assert ran_in.result() == threading.get_ident()
    assert keywords.result() == 255
    with pytest.raises(ValueError, match="not a number"):
        failed.result()  # raised where the result is asked for, as from a thread


def test_a_side_thread_runs_jobs_beside_the_caller(monkeypatch, eight_cores):
    monkeypatch.setenv(THREADS_VARIABLE, "2")
    with side_thread() as side:
        ran_in = side.submit(threading.get_ident)
    assert ran_in.result() != threading.get_ident()


def test_opencv_is_held_to_the_budget_when_there_is_one(monkeypatch):
    before = cv2.getNumThreads()
    try:
        monkeypatch.setenv(THREADS_VARIABLE, "1")
        hold_opencv_to_budget()
        assert cv2.getNumThreads() == 1
        monkeypatch.delenv(THREADS_VARIABLE)
        cv2.setNumThreads(before)
        hold_opencv_to_budget()  # no budget: OpenCV keeps its own setting
        assert cv2.getNumThreads() == before
    finally:
        cv2.setNumThreads(before)
