import torch

from mmcofnet.utils import size_tensor


def test_size_tensor_of_ints():
    sizes = size_tensor([3, 5])
    assert sizes.dtype == torch.long and sizes.tolist() == [3, 5]


def test_size_tensor_stays_symbolic_in_a_trace():
    def frame_size(x):
        return size_tensor(x.shape[2:]) * 2

    traced = torch.jit.trace(frame_size, torch.zeros(1, 3, 4, 6))
    # torch.tensor(x.shape[2:]) would have frozen [4, 6] into the graph.
    assert traced(torch.zeros(1, 3, 7, 9)).tolist() == [14, 18]
