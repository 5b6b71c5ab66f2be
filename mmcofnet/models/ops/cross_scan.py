"""Cross scan / cross merge: the four 1D orderings of a 2D map used by VMamba's SS2D.

A selective scan is causal along its sequence, so one flattening of a map only lets each pixel see
the pixels before it in that order. Scanning four orders (row-major, column-major and both
reversed) and summing the results gives every pixel a path from every other pixel.

Direction ``k`` of :func:`cross_scan` and :func:`cross_merge`:

* 0: row-major (``h`` outer, ``w`` inner),
* 1: column-major (``w`` outer, ``h`` inner),
* 2: row-major reversed,
* 3: column-major reversed.

Both functions are plain tensor ops (flatten, transpose, flip), so autograd differentiates them;
``cross_merge`` is the adjoint of ``cross_scan`` (``<cross_scan(x), y> == <x, cross_merge(y)>``).
"""

from torch import Tensor

NUM_DIRECTIONS = 4


def cross_scan(x: Tensor) -> Tensor:
    """Flatten a map in the four scan orders.

    Args:
        x (Tensor): Feature map, shape ``[B, C, H, W]``.

    Returns:
        Tensor: Sequences, shape ``[B, 4, C, H * W]``; ``[:, k]`` is ``x`` flattened in order ``k``.
    """
    b, c, h, w = x.shape
    # Written into one buffer (stack/cat would copy every direction once more). The column-major
    # copy reads the row-major one: transposing a contiguous map is ~4x faster than transposing
    # a channels-last input a second time.
    xs = x.new_empty(b, NUM_DIRECTIONS, c, h * w)
    row_major = xs[:, 0].view(b, c, h, w)
    row_major.copy_(x)
    xs[:, 1].view(b, c, w, h).copy_(row_major.transpose(2, 3))
    xs[:, 2:] = xs[:, :2].flip(-1)
    return xs


def cross_merge(ys: Tensor, channels_last: bool = False) -> Tensor:
    """Undo each scan order of :func:`cross_scan` and sum the four directions.

    Args:
        ys (Tensor): Per-direction sequences, shape ``[B, 4, C, H, W]``. ``ys[:, k]`` holds
            direction ``k``'s sequence of length ``H * W`` in that direction's own order (viewed as
            ``H x W`` only for its shape), i.e. the layout :func:`cross_scan` produces.
        channels_last (bool): Return a contiguous ``[B, H, W, C]`` instead of ``[B, C, H * W]``,
            for a channels-last op (LayerNorm, Linear) next. Default: False.

    Returns:
        Tensor: Merged map, ``[B, C, H * W]`` in row-major order, or ``[B, H, W, C]``.
    """
    b, k, c, h, w = ys.shape
    if k != NUM_DIRECTIONS:
        raise ValueError(f'cross_merge expects {NUM_DIRECTIONS} directions, got {k}')
    ys = ys.flatten(3)
    # In place on the fresh flipped copy: un-reverse directions 2 and 3, add 0 and 1, then add the
    # column-major pair, read transposed, onto the row-major one. Two buffers, no other copy.
    merged = ys[:, 2:].flip(-1)
    merged += ys[:, :2]
    row_major = merged[:, 0].view(b, c, h, w)
    row_major += merged[:, 1].view(b, c, w, h).transpose(2, 3)
    if not channels_last:
        return row_major.flatten(2)
    out = ys.new_empty(b, h, w, c)
    for i in range(b):
        # 2D transposes take torch's blocked-transpose fast path; a 4D permute copy does not.
        out[i].view(h * w, c).copy_(row_major[i].view(c, h * w).t())
    return out
