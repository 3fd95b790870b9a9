import os

# No test touches the network: ImageNet weights are only looked up in the cache.
os.environ.setdefault("CAM_HELPERS_OFFLINE", "1")

import pytest
import torch
from toys import TinyGAP


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def tiny():
    return TinyGAP([[1.0, -1.0], [0.5, 2.0]]).eval()


@pytest.fixture
def tiny_input():
    # channel 0 = [[1, 2], [3, 4]], channel 1 = [[0, 1], [1, 0]]
    return torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [1.0, 0.0]]]])
