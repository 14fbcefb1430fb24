import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own decoded-image cache, never the user's."""
    monkeypatch.setenv("AUGTRAIN_CACHE", str(tmp_path / "cache"))
    yield
