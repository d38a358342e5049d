import pytest
import torch


@pytest.fixture(autouse=True)
def _restore_threads():
    """synth and evaluate set torch's thread count for the process: give the next tests theirs back."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)
