import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic_single_thread():
    """Seeded, and one thread: the test models are tiny, per-op overhead rules, and a second
    thread only adds contention (on a busy 2-core machine it made tests 4–15× slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(before)
