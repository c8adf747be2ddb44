"""A signal's exception raised inside a finaliser is dropped by Python; regrun's handler keeps it for the next check."""
import gc

import pytest

from regrun.monitor import CtrlC
from regrun.run import Interrupted


def test_a_sigterm_swallowed_by_a_finaliser_is_raised_again_at_the_next_check():
    stop = CtrlC()

    class Finalised:
        def __del__(self):  # where the signal lands: Python prints "Exception ignored" and goes on
            stop.stop(lambda: Interrupted("terminated by SIGTERM"))

    Finalised()
    gc.collect()
    assert stop.caught
    with pytest.raises(Interrupted, match="SIGTERM"):
        stop.check()
    with pytest.raises(Interrupted):  # and at every later check, until the run has stopped
        stop.step({})


def test_ctrl_c_is_still_a_keyboard_interrupt():
    stop = CtrlC()
    with pytest.raises(KeyboardInterrupt, match="Ctrl-C"):
        stop.handler(2, None)
    with pytest.raises(KeyboardInterrupt):
        stop.check()
