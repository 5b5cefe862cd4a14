"""GRADFLOW_COLLECTIVE_POLL: a waiting rank tests its MPI request and sleeps in between instead of
polling in MPI_Wait (for ranks that share cores); 0, the default, keeps MPI_Wait."""
import pytest

from gradflow.distribution import communicator as cm


class _Request:
    def __init__(self, tests_until_done):
        self.left, self.tests, self.waits = tests_until_done, 0, 0

    def Test(self):
        self.tests += 1
        self.left -= 1
        return self.left <= 0

    def Wait(self):
        self.waits += 1


def test_poll_tests_and_sleeps_and_zero_waits():
    slept = []
    r = _Request(3)
    real = cm.time.sleep
    cm.time.sleep = slept.append
    try:
        cm._finish(r, 0.001)
    finally:
        cm.time.sleep = real
    assert (r.tests, r.waits, slept) == (3, 0, [0.001, 0.001])
    r = _Request(3)
    cm._finish(r, 0.0)
    assert (r.tests, r.waits) == (0, 1)


@pytest.mark.parametrize("raw,value", [("", 0.0), ("0", 0.0), (" 0.0005 ", 0.0005)])
def test_collective_poll_reads_the_environment(monkeypatch, raw, value):
    monkeypatch.setenv(cm.POLL_ENV, raw)
    assert cm.collective_poll() == value


@pytest.mark.parametrize("raw", ["fast", "-1"])
def test_collective_poll_rejects_nonsense(monkeypatch, raw):
    monkeypatch.setenv(cm.POLL_ENV, raw)
    with pytest.raises(ValueError, match=cm.POLL_ENV):
        cm.collective_poll()
