import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DLCLI_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _small_threads(monkeypatch):
    """Tests run on 2 cores: keep torch from oversubscribing them."""
    import torch

    torch.set_num_threads(min(2, torch.get_num_threads()))
    yield


@pytest.fixture
def python() -> str:
    return sys.executable


def shared_data(relative: str) -> Path:
    """A folder of ../shared/data, or skip the test when this checkout has none."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"real recordings not available here ({path} is absent)")
    return path
