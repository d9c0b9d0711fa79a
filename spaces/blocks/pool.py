"""Downsampling max pools: S3D's, centred in time, and a tiled form that is symmetric in time."""
from __future__ import annotations

from torch import nn


def downsample_pool(*, kernel: int, stride: int, temporal_kernel: int, temporal_stride: int) -> nn.Module:
    """A (temporal_kernel, kernel, kernel) max pool, stride (temporal_stride, stride, stride),
    'same' padding.

    - Odd `temporal_kernel` (1, 3): centred, padded by `temporal_kernel // 2` (S3D's 2a, 3a, 4a):
      one `nn.MaxPool3d`. With stride 2 it keeps windows centred on frames 0, 2, 4, ..., so a clip
      and its time reversal are pooled around different frames (for an even frame count).
    - `temporal_kernel == temporal_stride` (2, as S3D's 5a): tiled in time, windows (0, 1), (2, 3),
      ..., so for an even frame count a clip reversed in time gives the reversed output; an odd
      last frame is pooled alone (TF's 'SAME'), giving ceil(T / 2) frames. Built as the spatial
      pool, then the temporal one (the max over a box is the max over time of the spatial maxes)::

          x (B, C, T, H, W) -> 1 x k x k, stride (1, s, s) -> 2 x 1 x 1, stride (2, 1, 1)
            -> (B, C, ceil(T / 2), H / s, W / s)

    An even `kernel` (2, with stride 2: the reference I3D/S3D code's 5a, a 2x2x2 pool) tiles the
    plane the same way: no padding, and an odd last row or column is pooled alone.
    """
    pad, tiled = kernel // 2, kernel % 2 == 0  # an even spatial kernel (2, stride 2) tiles the plane
    if temporal_kernel % 2 == 1:
        return nn.MaxPool3d((temporal_kernel, kernel, kernel), stride=(temporal_stride, stride, stride),
                            padding=(temporal_kernel // 2, 0 if tiled else pad, 0 if tiled else pad), ceil_mode=tiled)
    if temporal_kernel != temporal_stride:
        raise ValueError(f"an even temporal_kernel must equal temporal_stride (a tiled pool), but got "
                         f"temporal_kernel={temporal_kernel}, temporal_stride={temporal_stride}")
    return nn.Sequential(
        nn.MaxPool3d((1, kernel, kernel), stride=(1, stride, stride), padding=(0, 0 if tiled else pad, 0 if tiled else pad),
                     ceil_mode=tiled),  # (B, C, T, H/s, W/s)
        nn.MaxPool3d((temporal_kernel, 1, 1), stride=(temporal_stride, 1, 1), ceil_mode=True),  # (B, C, T/2, ...)
    )
