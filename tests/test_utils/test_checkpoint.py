"""torch's safe loader (weights_only=True) accepts mmengine checkpoints, and nothing more."""

import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

from mmcofnet.utils.checkpoint import history_buffer_getattr


def test_message_hub_state_loads_with_weights_only(tmp_path):
    hub = MessageHub.get_instance('test_checkpoint_hub')
    for i in range(3):
        hub.update_scalar('train/loss', np.float64(1.0 / (i + 1)))
    hub.update_info('eta', np.float32(2.5))
    path = tmp_path / 'ckpt.pth'
    torch.save(
        dict(
            meta=dict(iter=3, seed=np.int64(7)),
            message_hub=hub.state_dict(),
            state_dict=dict(w=torch.ones(2)),
        ),
        path,
    )
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    buffer = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.mean() == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    assert ckpt['meta']['seed'] == 7


class _Exploit:
    def __reduce__(self):
        return getattr, (HistoryBuffer, 'update')


def test_arbitrary_getattr_is_still_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'x': _Exploit()}, path)
    with pytest.raises(pickle.UnpicklingError, match='getattr'):
        torch.load(path, weights_only=True)


def test_restricted_getattr_resolves_only_statistics():
    assert history_buffer_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError, match="getattr\\(HistoryBuffer, '__init__'\\)"):
        history_buffer_getattr(HistoryBuffer, '__init__')
