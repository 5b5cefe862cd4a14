"""The fused ops composed from an implementation's own kernels.

Implementations without a fused kernel (reference, numpy, cuda, vendor) run the parts in turn: for
batch norm -> ReLU -> max-pool their batch norm (with its ReLU), their max-pool, and on the way back
their max-pool and batch-norm backward; for the inference conv -> max-pool their conv (with bias
and activation) then their max-pool. Same contracts as the fused Numba kernels (kernels/README.md),
with the full-size activation in between.
"""
from __future__ import annotations

from ._geometry import check_bn_pool, check_conv_pool, check_shape, conv_geometry

__all__ = ["bn_relu_max_pool_forward", "bn_relu_max_pool_backward", "conv2d_pool_forward"]

_VALID = ((0, 0), (0, 0))


def bn_relu_max_pool_forward(impl, x, gamma, beta, eps, pool, out=None):
    """(y, argmax, mean, inv_std): max-pool (stride = pool, no padding) of relu(batch_norm(x))."""
    C = check_bn_pool("bn_relu_max_pool_forward", x, pool, gamma=gamma, beta=beta)[3]
    y2, mean, inv_std = impl.batch_norm_forward(x.reshape(-1, C), gamma, beta, eps, activation="relu")
    y, argmax = impl.max_pool2d_forward(y2.reshape(x.shape), pool, pool, _VALID, out=out)
    return y, argmax, mean, inv_std


def bn_relu_max_pool_backward(impl, dy, y, argmax, x, gamma, mean, inv_std, pool, out=None):
    """(dx, dgamma, dbeta): dy reaches each window's argmax where the pooled output is positive."""
    C = check_bn_pool("bn_relu_max_pool_backward", x, pool, gamma=gamma, mean=mean, inv_std=inv_std, dy=dy, y=y,
                      argmax=argmax)[3]
    dy_full = impl.max_pool2d_backward(dy * (y > 0), argmax, x.shape, pool, pool, _VALID)
    dx2, dgamma, dbeta = impl.batch_norm_backward(dy_full.reshape(-1, C), x.reshape(-1, C), gamma, mean, inv_std,
                                                  out=None if out is None else out.reshape(-1, C))
    return (dx2.reshape(x.shape) if out is None else out), dgamma, dbeta


def conv2d_pool_forward(impl, x, w, b, stride, padding, dilation, pool, out=None, activation=None, scale=None):
    """max-pool (stride = pool, no padding) of act(conv(x, w) * scale + b) (``scale`` None: 1)."""
    op = "conv2d_pool_forward"
    pool = check_conv_pool(op, conv_geometry(op, x.shape, w.shape, stride, padding, dilation), pool)
    if scale is None:
        y = impl.conv2d_forward(x, w, b, stride, padding, dilation, activation=activation)
    else:
        check_shape(op, "scale", scale.shape, (w.shape[3],))
        y = impl.conv2d_forward(x, w, None, stride, padding, dilation)
        y *= scale.astype(y.dtype, copy=False)
        if b is not None:
            y += b.astype(y.dtype, copy=False)
        if activation == "relu":
            y.clip(0, None, out=y)  # in place, no boolean-mask write (a host sync on CuPy)
    return impl.max_pool2d_forward(y, pool, pool, _VALID, out=out)[0]
