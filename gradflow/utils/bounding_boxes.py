"""``keras.utils.bounding_boxes`` (Keras 3.15, keras/src/layers/preprocessing/image_preprocessing/
bounding_boxes/): box format conversion, clipping, cropping, padding, affine transforms, anchor deltas
and IoU/CIoU, in NumPy.

Boxes are arrays (or gradflow Tensors, or anything ``np.asarray`` takes) whose last axis holds the 4
coordinates of one of ``SUPPORTED_FORMATS``; results are NumPy arrays with Keras's shapes and dtypes."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["convert_format", "clip_to_image_size", "affine_transform", "crop", "pad", "encode_box_to_deltas",
           "decode_deltas_to_boxes", "compute_iou", "compute_ciou"]

SUPPORTED_FORMATS = ("xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw", "rel_xyxy", "rel_yxyx", "rel_xywh",
                     "rel_center_xywh")
_EPSILON = 1e-7  # keras.backend.epsilon()


def _array(x, dtype=None):
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        x = x.numpy()
    x = np.asarray(x)
    return x if dtype is None else x.astype(dtype, copy=False)


def _split(boxes):
    return [boxes[..., i:i + 1] for i in range(4)]


def _join(*parts):
    return np.concatenate(parts, axis=-1)


def _to_xyxy(fmt, b, height, width):
    p, q, r, s = _split(b)
    if fmt == "xyxy":
        return b
    if fmt == "yxyx":
        return _join(q, p, s, r)
    if fmt == "xywh":
        return _join(p, q, p + r, q + s)
    if fmt == "center_xywh":
        return _join(p - r / 2.0, q - s / 2.0, p + r / 2.0, q + s / 2.0)
    if fmt == "center_yxhw":
        return _join(q - s / 2.0, p - r / 2.0, q + s / 2.0, p + r / 2.0)
    if fmt == "rel_xyxy":
        return _join(p * width, q * height, r * width, s * height)
    if fmt == "rel_yxyx":
        return _join(q * width, p * height, s * width, r * height)
    if fmt == "rel_xywh":
        return _join(p * width, q * height, (p + r) * width, (q + s) * height)
    return _join((p - r / 2.0) * width, (q - s / 2.0) * height, (p + r / 2.0) * width,  # rel_center_xywh
                 (q + s / 2.0) * height)


def _from_xyxy(fmt, b, height, width):
    x1, y1, x2, y2 = _split(b)
    if fmt == "xyxy":
        return b
    if fmt == "yxyx":
        return _join(y1, x1, y2, x2)
    if fmt == "xywh":
        return _join(x1, y1, x2 - x1, y2 - y1)
    cx, cy = x1 + (x2 - x1) / 2.0, y1 + (y2 - y1) / 2.0
    if fmt == "center_xywh":
        return _join(cx, cy, x2 - x1, y2 - y1)
    if fmt == "center_yxhw":
        return _join(cy, cx, y2 - y1, x2 - x1)
    if fmt == "rel_xyxy":
        return _join(x1 / width, y1 / height, x2 / width, y2 / height)
    if fmt == "rel_yxyx":
        return _join(y1 / height, x1 / width, y2 / height, x2 / width)
    if fmt == "rel_xywh":
        return _join(x1 / width, y1 / height, (x2 - x1) / width, (y2 - y1) / height)
    return _join(cx / width, cy / height, (x2 - x1) / width, (y2 - y1) / height)  # rel_center_xywh


def convert_format(boxes, source, target, height=None, width=None, dtype="float32"):
    """``boxes`` (or ``boxes["boxes"]`` of a dict, converted in place) from ``source`` to ``target`` format,
    cast to ``dtype``; relative formats need the image ``height`` and ``width``."""
    if isinstance(boxes, dict):
        boxes["boxes"] = convert_format(boxes["boxes"], source, target, height, width, dtype)
        return boxes
    boxes = _array(boxes)
    if boxes.shape[-1] != 4:
        raise ValueError(f"`boxes` must be a tensor with the last dimension of 4. Received: boxes.shape="
                         f"{boxes.shape}")
    source, target = source.lower(), target.lower()
    if source not in SUPPORTED_FORMATS or target not in SUPPORTED_FORMATS:
        raise ValueError(f"Invalid source or target format. Supported formats: {SUPPORTED_FORMATS}")
    if (source.startswith("rel_") or target.startswith("rel_")) and (width is None or height is None):
        raise ValueError("convert_format() must receive `height` and `width` transforming between relative and "
                         f"absolute formats.convert_format() received source=`{source}`, target=`{target}, but "
                         f"height={height} and width={width}.")
    boxes = boxes.astype(dtype)
    if source == target:
        return boxes
    dt = boxes.dtype.type
    width = None if width is None else dt(width)
    height = None if height is None else dt(height)
    if source.startswith("rel_") and target.startswith("rel_"):
        source, target = source[4:], target[4:]
    return _from_xyxy(target, _to_xyxy(source, boxes, height, width), height, width).astype(dtype, copy=False)


def _area(boxes):
    x1, y1, x2, y2 = _split(boxes)
    return (x2 - x1) * (y2 - y1)


def clip_to_image_size(bounding_boxes, height=None, width=None, bounding_box_format="xyxy"):
    """``bounding_boxes`` (a dict with ``boxes`` and optionally ``labels``) with the boxes clipped to the image;
    boxes left with no area get label -1."""
    if bounding_box_format not in ("xyxy", "rel_xyxy"):
        raise NotImplementedError
    if bounding_box_format == "xyxy" and (height is None or width is None):
        raise ValueError("`height` and `width` must be set if `format='xyxy'`.")
    boxes = _array(bounding_boxes["boxes"])
    labels = bounding_boxes.get("labels", None)
    if bounding_box_format == "xyxy":
        w, h = np.asarray(width).astype(boxes.dtype), np.asarray(height).astype(boxes.dtype)
    else:
        w = h = np.asarray(1.0, boxes.dtype)
    x1, y1, x2, y2 = _split(boxes)
    zero = np.asarray(0, boxes.dtype)
    boxes = _join(np.clip(x1, zero, w), np.clip(y1, zero, h), np.clip(x2, zero, w), np.clip(y2, zero, h))
    result = dict(bounding_boxes)
    result["boxes"] = boxes
    if labels is not None:
        labels = _array(labels)
        result["labels"] = np.where(np.squeeze(_area(boxes), axis=-1) > 0, labels,
                                    np.asarray(-1, labels.dtype))
    return result


def _inverse_affine_matrix(center_x, center_y, angle, translate_x, translate_y, scale, shear_x, shear_y, height,
                           width):
    angle = _array(angle)
    dtype = angle.dtype
    angle, shear_x, shear_y = -angle, -_array(shear_x, dtype), -_array(shear_y, dtype)
    cx, cy = np.multiply(center_x, width - 1), np.multiply(center_y, height - 1)
    rot = angle * (1.0 / 180.0 * math.pi)
    tx, ty = np.multiply(-_array(translate_x, dtype), width - 1), np.multiply(-_array(translate_y, dtype), height - 1)
    sx, sy = shear_x * (1.0 / 180.0 * math.pi), shear_y * (1.0 / 180.0 * math.pi)
    cos_sy, tan_sx = np.cos(sy), np.tan(sx)
    rot_minus_sy = rot - sy
    cx_plus_tx, cy_plus_ty = cx + tx, cy + ty
    a = np.cos(rot_minus_sy) / cos_sy
    b = a * tan_sx + np.sin(rot)
    c = -np.sin(rot_minus_sy) / cos_sy
    d = np.cos(rot) - c * tan_sx
    scale = _array(scale, dtype)
    a0, a1, b0, b1 = d * scale, -b * scale, -c * scale, a * scale
    a2 = cx - a0 * cx_plus_tx - a1 * cy_plus_ty
    b2 = cy - b0 * cx_plus_tx - b1 * cy_plus_ty
    n = angle.shape[0]
    matrix = np.stack([a0, a1, a2, b0, b1, b2, np.zeros([n], dtype), np.zeros([n], dtype), np.ones([n], dtype)],
                      axis=-1).astype(dtype, copy=False)
    return matrix.reshape(n, 3, 3)


def affine_transform(boxes, angle, translate_x, translate_y, scale, shear_x, shear_y, height, width, center_x=None,
                     center_y=None, bounding_box_format="xyxy"):
    """The smallest ``xyxy`` boxes around each box's corners mapped by the affine transform of each batch item
    (``angle``, ``translate_*``, ``scale``, ``shear_*``: arrays of shape ``(batch,)``; angles in degrees,
    translations and the center in fractions of the image). ``boxes``: ``(batch, N, 4)``."""
    if bounding_box_format != "xyxy":
        raise NotImplementedError
    boxes = _array(boxes)
    batch, n = boxes.shape[0], boxes.shape[1]
    matrix = _inverse_affine_matrix(0.5 if center_x is None else center_x, 0.5 if center_y is None else center_y,
                                    angle, translate_x, translate_y, scale, shear_x, shear_y, height, width)
    boxes = boxes.astype(matrix.dtype)
    transposed = np.transpose(matrix[:, :2, :], [0, 2, 1])
    p = boxes
    points = np.stack([p[..., 0], p[..., 1], p[..., 2], p[..., 1], p[..., 2], p[..., 3], p[..., 0], p[..., 3]],
                      axis=-1).reshape(batch, n, 4, 2)
    points = np.concatenate([points, np.ones([batch, n, 4, 1], points.dtype)], axis=-1)
    moved = np.einsum("bnxy,byz->bnxz", points, transposed)
    return np.concatenate([moved.min(axis=2), moved.max(axis=2)], axis=-1)


def crop(boxes, top, left, height, width, bounding_box_format="xyxy"):
    """``xyxy`` boxes moved by ``(-left, -top)`` and clipped to the ``height`` x ``width`` crop."""
    if bounding_box_format != "xyxy":
        raise NotImplementedError
    x1, y1, x2, y2 = _split(_array(boxes))
    return _join(np.clip(x1 - left, 0, width), np.clip(y1 - top, 0, height), np.clip(x2 - left, 0, width),
                 np.clip(y2 - top, 0, height))


def pad(boxes, top, left, height=None, width=None, bounding_box_format="xyxy"):
    """``xyxy`` boxes moved by ``(left, top)`` (the image padded on its top and left)."""
    if bounding_box_format != "xyxy":
        raise NotImplementedError
    x1, y1, x2, y2 = _split(_array(boxes))
    return _join(x1 + left, y1 + top, x2 + left, y2 + top)


def _variance(variance):
    if variance is None:
        return None
    variance = _array(variance, "float32")
    if variance.shape[-1] != 4:
        raise ValueError(f"`variance` must be length 4, got {variance}")
    return variance


def encode_box_to_deltas(anchors, boxes, anchor_format, box_format, encoding_format="center_yxhw", variance=None,
                         image_shape=None):
    """The offsets (centers, in anchor sizes) and log size ratios that turn ``anchors`` into ``boxes``, in
    ``encoding_format`` ('center_yxhw' or 'center_xywh'), divided by ``variance`` when given."""
    variance = _variance(variance)
    if encoding_format not in ("center_xywh", "center_yxhw"):
        raise ValueError(f"`encoding_format` should be one of 'center_xywh' or 'center_yxhw', got {encoding_format}")
    height, width = (None, None) if image_shape is None else tuple(image_shape)[:2]
    anchors = convert_format(anchors, anchor_format, encoding_format, height, width)
    boxes = convert_format(boxes, box_format, encoding_format, height, width)
    eps = np.float32(_EPSILON)
    anchor_dims, box_dims = np.maximum(anchors[..., 2:], eps), np.maximum(boxes[..., 2:], eps)
    delta = np.concatenate([(boxes[..., :2] - anchors[..., :2]) / anchor_dims, np.log(box_dims / anchor_dims)],
                           axis=-1)
    return delta if variance is None else delta / variance


def decode_deltas_to_boxes(anchors, boxes_delta, anchor_format, box_format, encoded_format="center_yxhw",
                           variance=None, image_shape=None):
    """The boxes (in ``box_format``) that ``boxes_delta`` describe relative to ``anchors`` (the inverse of
    ``encode_box_to_deltas``); dicts of levels give dicts."""
    variance = _variance(variance)
    if encoded_format not in ("center_xywh", "center_yxhw"):
        raise ValueError(f"`encoded_format` should be 'center_xywh' or 'center_yxhw', but got '{encoded_format}'.")
    height, width = (None, None) if image_shape is None else tuple(image_shape)[:2]

    def decode(anchor, delta):
        anchor = convert_format(anchor, anchor_format, encoded_format, height, width)
        delta = _array(delta)
        if variance is not None:
            delta = delta * variance
        box = np.concatenate([delta[..., :2] * anchor[..., 2:] + anchor[..., :2],
                              np.exp(delta[..., 2:]) * anchor[..., 2:]], axis=-1)
        return convert_format(box, encoded_format, box_format, height, width)

    if isinstance(anchors, dict) and isinstance(boxes_delta, dict):
        return {level: decode(anchor, boxes_delta[level]) for level, anchor in anchors.items()}
    return decode(anchors, boxes_delta)


def _swap_last(x):
    return np.swapaxes(x, -1, -2)


def compute_iou(boxes1, boxes2, bounding_box_format, use_masking=False, mask_val=-1, image_shape=None):
    """Pairwise IoU: ``(N, M)`` for ``(N, 4)`` and ``(M, 4)`` boxes (``(B, N, M)`` batched). With
    ``use_masking``, pairs with a box whose coordinates are all negative (padding) get ``mask_val``."""
    rank1, rank2 = np.ndim(_array(boxes1)), np.ndim(_array(boxes2))
    for which, rank in (("boxes1", rank1), ("boxes2", rank2)):
        if rank not in (2, 3):
            raise ValueError(f"compute_iou() expects {which} to be batched, or to be unbatched. Received "
                             f"len(boxes1.shape)={rank1}, len(boxes2.shape)={rank2}. Expected either "
                             f"len({which}.shape)=2 AND or len({which}.shape)=3.")
    if "rel" in bounding_box_format and image_shape is None:
        raise ValueError("When using relative bounding box formats (e.g. `rel_yxyx`) the `image_shape` argument "
                         f"must be provided.Received `image_shape`: {image_shape}")
    height, width = (None, None) if image_shape is None else tuple(image_shape)[:2]
    b1 = convert_format(boxes1, bounding_box_format, "yxyx", height, width)
    b2 = convert_format(boxes2, bounding_box_format, "yxyx", height, width)
    y1a, x1a, y2a, x2a = _split(b1)
    y1b, x1b, y2b, x2b = _split(b2)
    inter_h = np.maximum(0, np.minimum(y2a, _swap_last(y2b)) - np.maximum(y1a, _swap_last(y1b)))
    inter_w = np.maximum(0, np.minimum(x2a, _swap_last(x2b)) - np.maximum(x1a, _swap_last(x1b)))
    intersect = (inter_h * inter_w).astype(b1.dtype, copy=False)
    area1 = ((y2a - y1a) * (x2a - x1a))[..., 0]
    area2 = ((y2b - y1b) * (x2b - x1b))[..., 0]
    area2 = np.expand_dims(area2, axis=1 if area2.ndim == 2 else 0)
    union = np.expand_dims(area1, -1) + area2 - intersect
    res = intersect / (union + np.float32(_EPSILON))
    if not use_masking:
        return res
    mask1 = np.max(b1, axis=-1, keepdims=True) < 0.0
    mask2 = np.max(b2, axis=-1, keepdims=True) < 0.0
    background = np.logical_or(mask1, _swap_last(mask2))
    return np.where(background, np.asarray(mask_val, res.dtype) * np.ones_like(res), res)


def compute_ciou(boxes1, boxes2, bounding_box_format, image_shape=None):
    """Complete IoU of paired boxes (same shapes, ``(..., 4)``): IoU less the normalised squared distance of
    the centers and the aspect-ratio term; shape ``boxes.shape[:-1]``."""
    if "rel" in bounding_box_format:
        raise ValueError("When using relative bounding box formats (e.g. `rel_yxyx`) the `image_shape` argument "
                         f"must be provided.Received `image_shape`: {image_shape}")
    height, width = (None, None) if image_shape is None else tuple(image_shape)[:2]
    b1 = convert_format(boxes1, bounding_box_format, "xyxy", height, width)
    b2 = convert_format(boxes2, bounding_box_format, "xyxy", height, width)
    eps = np.float32(_EPSILON)
    x_min1, y_min1, x_max1, y_max1 = _split(b1)
    x_min2, y_min2, x_max2, y_max2 = _split(b2)
    w1, h1 = x_max1 - x_min1, y_max1 - y_min1 + eps
    w2, h2 = x_max2 - x_min2, y_max2 - y_min2 + eps
    inter = np.maximum(np.minimum(x_max1, x_max2) - np.maximum(x_min1, x_min2), 0) * \
        np.maximum(np.minimum(y_max1, y_max2) - np.maximum(y_min1, y_min2), 0)
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = np.squeeze(inter / (union + eps), axis=-1)
    convex_w = np.maximum(x_max1, x_max2) - np.minimum(x_min1, x_min2)
    convex_h = np.maximum(y_max1, y_max2) - np.minimum(y_min1, y_min2)
    diagonal = np.squeeze(convex_w ** 2 + convex_h ** 2 + eps, axis=-1)
    centers = np.squeeze(((x_min1 + x_max1) / 2 - (x_min2 + x_max2) / 2) ** 2
                         + ((y_min1 + y_max1) / 2 - (y_min2 + y_max2) / 2) ** 2, axis=-1)
    v = np.squeeze(np.float32(4 / math.pi ** 2) * (np.arctan(w2 / h2) - np.arctan(w1 / h1)) ** 2, axis=-1)
    alpha = v / (v - iou + (1 + eps))
    return iou - (centers / diagonal + v * alpha)
