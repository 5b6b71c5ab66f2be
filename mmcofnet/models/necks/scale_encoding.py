"""Scale embedding psi(s) = SIREN(Fourier(s)) of the Continuous Scale Field."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def stride_to_scale(stride: float | Tensor) -> float | Tensor:
    """Continuous scale of a stride: s = (log2(stride) - 2) / 3 (stride 4 -> 0, 32 -> 1)."""
    if isinstance(stride, Tensor):
        return (torch.log2(stride) - 2) / 3
    return (math.log2(stride) - 2) / 3


def scale_to_stride(scale: float | Tensor) -> float | Tensor:
    """Inverse of :func:`stride_to_scale`: stride = 4 * 2 ** (3 s)."""
    if isinstance(scale, Tensor):
        return 4 * torch.exp2(3 * scale)
    return 4 * 2 ** (3 * scale)


class FourierScaleEncoding(nn.Module):
    """Encodes a scalar scale with sines and cosines of geometrically spaced frequencies.

    gamma(s) = [s, sin(2^k pi s), cos(2^k pi s) for k < num_bands]

    Args:
        num_bands (int): Number of frequencies.

    Shapes:
        input ``[...]`` -> output ``[..., 1 + 2 * num_bands]``.
    """

    def __init__(self, num_bands: int = 6) -> None:
        super().__init__()
        if num_bands < 1:
            raise ValueError(f'FourierScaleEncoding: num_bands={num_bands} must be >= 1')
        self.num_bands = num_bands
        self.register_buffer(
            'freqs', math.pi * 2.0 ** torch.arange(num_bands, dtype=torch.float32), persistent=False
        )

    @property
    def out_channels(self) -> int:
        return 1 + 2 * self.num_bands

    def forward(self, scales: Tensor) -> Tensor:
        angles = scales[..., None] * self.freqs
        return torch.cat([scales[..., None], angles.sin(), angles.cos()], dim=-1)


class SineLayer(nn.Module):
    """Linear layer followed by sin(omega_0 x), with SIREN's initialisation (Sitzmann 2020)."""

    def __init__(self, in_features: int, out_features: int, omega_0: float, is_first: bool) -> None:
        super().__init__()
        self.omega_0 = omega_0
        self.linear = nn.Linear(in_features, out_features)
        # First layer: U(-1/n, 1/n); later ones: U(-sqrt(6/n)/omega_0, ...) keeps the
        # pre-activations' distribution fixed through depth.
        bound = 1 / in_features if is_first else math.sqrt(6 / in_features) / omega_0
        nn.init.uniform_(self.linear.weight, -bound, bound)
        nn.init.uniform_(self.linear.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return torch.sin(self.omega_0 * self.linear(x))


class SirenMLP(nn.Module):
    """A SIREN: ``num_layers`` sine layers, smooth in its input by construction.

    Args:
        in_features (int): Input width.
        hidden_features (int): Width of every layer (and of the output).
        num_layers (int): Number of sine layers.
        omega_0 (float): Frequency factor of the sine activations.
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: int = 64,
        num_layers: int = 3,
        omega_0: float = 30.0,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f'SirenMLP: num_layers={num_layers} must be >= 1')
        self.layers = nn.Sequential(
            *[
                SineLayer(
                    in_features if i == 0 else hidden_features,
                    hidden_features,
                    omega_0,
                    is_first=i == 0,
                )
                for i in range(num_layers)
            ]
        )
        self.out_features = hidden_features

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class ScaleEmbedding(nn.Module):
    """psi(s) = SIREN(Fourier(s)): a smooth learned embedding of the continuous scale.

    Scales live in a short interval (about [0, 5/3]), so the defaults are low-frequency (4 bands,
    omega_0 = 3): psi varies smoothly across scales instead of fitting high-frequency detail.

    Shapes:
        input ``[...]`` -> output ``[..., hidden_features]``.
    """

    def __init__(
        self,
        num_bands: int = 4,
        hidden_features: int = 64,
        num_layers: int = 3,
        omega_0: float = 3.0,
    ) -> None:
        super().__init__()
        self.fourier = FourierScaleEncoding(num_bands)
        self.siren = SirenMLP(self.fourier.out_channels, hidden_features, num_layers, omega_0)
        self.out_features = hidden_features

    def forward(self, scales: Tensor) -> Tensor:
        return self.siren(self.fourier(scales))
