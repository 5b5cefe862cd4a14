"""Stand-in ``cupyx.scipy.special``: ``erf`` (SciPy's, on the stand-in's arrays)."""
from __future__ import annotations

from cupy import _API, _unwrap, _wrap

_NAMES = frozenset(_API["modules"]["cupyx.scipy.special"])


def erf(x, out=None):
    import scipy.special  # noqa: PLC0415 - test-only dependency

    result = scipy.special.erf(_unwrap(x, "erf"))
    if out is not None:
        _unwrap(out, "erf")[...] = result
        return out
    return _wrap(result)


assert "erf" in _NAMES
