import signal

import pytest


@pytest.fixture(autouse=True)
def _restore_signal_handlers():
    """``trigen train`` run in-process installs SIGINT/SIGTERM handlers; put pytest's back."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)
