"""Launch configuration for the CUDA kernels in plain Python: geometry, tile choice, grids,
kernel names and argument packing.

Nothing here imports CuPy or touches a GPU, so all of it is unit-tested on the CPU
(tests/kernels/test_cuda_launch.py). This module and the ``.cu`` files share one contract: the
kernel names (``kernel_ref``/``all_kernels``) and their argument kinds (``SIGNATURES``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._geometry import _padding, _pair  # argument checks shared with the CPU kernels

__all__ = [
    "BLOCK", "SIGNATURES", "KERNEL_FILES", "CONV_TILES", "MATMUL_TILES", "TF32_TILE",
    "KernelRef", "Tile", "ConvGeom", "PoolGeom", "GemmLaunch", "BatchNormPlan", "MatmulShapes",
    "ceil_div", "dtype_suffix", "kernel_ref", "all_kernels", "pack_args", "check_grid",
    "grid_stride_blocks", "conv_geometry", "conv_gemm_shape", "choose_conv_tile", "splitk_plan",
    "conv_launch", "pool_geometry", "batch_norm_plan", "check_vectors", "matmul_shapes",
    "batch_stride", "matmul_chunks", "use_tf32", "check_out",
]

BLOCK = 256                    # every kernel runs 256-thread blocks
MAX_GRID_X = 2**31 - 1
MAX_GRID_YZ = 65535
INT32_MAX = 2**31 - 1
BLOCKS_PER_SM = 32             # grid-stride kernels start at most this many blocks per SM
DEFAULT_SM_COUNT = 132         # H100 SXM; launchers pass the real count of the device
MIN_KTILES_PER_SPLIT = 16      # split-K: each split multiplies at least this many BK slices
SPLITK_BLOCKS_PER_SM = 2       # split-K aims at about this many blocks per SM
BN_MIN_ROWS_PER_SPLIT = 64     # batch-norm reductions: rows per block, at least
BN_BLOCKS_PER_SM = 4           # batch-norm reductions aim at about this many blocks per SM

_T_OF = {"f32": np.dtype(np.float32), "f64": np.dtype(np.float64)}
_SUFFIX = {v: k for k, v in _T_OF.items()}


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def dtype_suffix(op: str, dtype) -> str:
    """``"f32"``/``"f64"`` for the kernel names; TypeError naming ``op`` for any other dtype."""
    try:
        return _SUFFIX[np.dtype(dtype)]
    except (KeyError, TypeError):
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = repr(dtype)
        raise TypeError(f"{op}: the cuda kernels take float32 or float64 arrays, got dtype {name}") from None


# ---------------------------------------------------------------------------------------------
# kernel names and signatures

@dataclass(frozen=True)
class Tile:
    """A GEMM block tile: ``bm x bn`` outputs per 256-thread block, ``bk``-deep K slices."""
    name: str
    bm: int
    bn: int
    bk: int


MATMUL_TILES = {"f32": Tile("f32", 128, 128, 8), "f64": Tile("f64", 64, 64, 8)}
TF32_TILE = Tile("tf32", 128, 128, 16)
CONV_TILES = {t.name: t for t in (Tile("128x64", 128, 64, 8), Tile("128x32", 128, 32, 8), Tile("64x64", 64, 64, 8))}

# argument kinds: "cT*" const pointer to the kernel's dtype, "T*" pointer to it, "ci64*"/"i64*"
# int64 pointers, "i32" int, "i64" long long, "T" a scalar of the kernel's dtype
_GEOM = ("i32",) * 15          # N, H, W, C, KH, KW, F, OH, OW, sh, sw, pt, pl, dh, dw
_POOL = ("i32",) * 12          # N, H, W, C, OH, OW, ph, pw, sh, sw, pt, pl
_MATMUL = ("cT*", "cT*", "T*", "i32", "i32", "i32", "i64", "i64", "i64", "i32", "i32", "i32")
SIGNATURES: dict[str, tuple[str, ...]] = {
    "conv2d_fwd": ("cT*", "cT*", "cT*", "T*", "i32") + _GEOM,          # x, w, b, y, has_bias
    "conv2d_bwd_input": ("cT*", "cT*", "T*") + _GEOM,                   # dy, w, dx
    "conv2d_bwd_filter": ("cT*", "cT*", "T*") + _GEOM + ("i32",),       # x, dy, out, ..., k_chunk
    "conv2d_splitk_reduce": ("cT*", "T*", "i32", "i64"),                # ws, out, splits, count
    "maxpool_fwd": ("cT*", "T*", "i64*") + _POOL,                       # x, y, argmax
    "maxpool_bwd": ("cT*", "ci64*", "T*") + _POOL,                      # dy, argmax, dx
    "avgpool_fwd": ("cT*", "T*") + _POOL,
    "avgpool_bwd": ("cT*", "T*") + _POOL,
    "bn_stats_partial": ("cT*", "T*", "i32", "i32", "i32"),             # x, part, M, C, rows
    "bn_stats_finalize": ("cT*", "T*", "T*", "i32", "i32", "i32", "T"),  # part, mean, inv_std, splits, C, M, eps
    "bn_apply": ("cT*",) * 5 + ("T*", "i64", "i32"),                    # x, mean, inv_std, gamma, beta, y, total, C
    "bn_inference": ("cT*",) * 5 + ("T*", "T", "i64", "i32"),           # x, gamma, beta, mean, var, y, eps, total, C
    "bn_bwd_partial": ("cT*",) * 4 + ("T*", "i32", "i32", "i32"),       # dy, x, mean, inv_std, part, M, C, rows
    "bn_bwd_finalize": ("cT*", "T*", "T*", "i32", "i32"),               # part, dgamma, dbeta, splits, C
    # dy, x, mean, inv_std, gamma, dgamma, dbeta, dx, total, C, M
    "bn_bwd_dx": ("cT*",) * 7 + ("T*", "i64", "i32", "i32"),
    "matmul": _MATMUL,                                                  # A, B, C, M, N, K, strides, vecA, vecB, vecC
    "matmul_tf32": _MATMUL,
}

KERNEL_FILES = {
    "conv2d.cu": ("conv2d_fwd", "conv2d_bwd_input", "conv2d_bwd_filter", "conv2d_splitk_reduce"),
    "pool.cu": ("maxpool_fwd", "maxpool_bwd", "avgpool_fwd", "avgpool_bwd"),
    "batchnorm.cu": ("bn_stats_partial", "bn_stats_finalize", "bn_apply", "bn_inference",
                     "bn_bwd_partial", "bn_bwd_finalize", "bn_bwd_dx"),
    "matmul.cu": ("matmul", "matmul_tf32"),
}
_FILE_OF = {fam: f for f, fams in KERNEL_FILES.items() for fam in fams}
_TILED = ("conv2d_fwd", "conv2d_bwd_input", "conv2d_bwd_filter")


@dataclass(frozen=True)
class KernelRef:
    """One extern "C" kernel: its source file, name, family (signature) and compile defines."""
    file: str
    name: str
    family: str
    suffix: str
    defines: tuple[str, ...] = ()


def kernel_ref(family: str, suffix: str, tile: str | None = None) -> KernelRef:
    """The kernel ``family`` for dtype ``suffix`` (and conv tile), e.g. ``conv2d_fwd_f32_128x64``."""
    if family not in SIGNATURES:
        raise KeyError(f"unknown kernel family {family!r}")
    if family == "matmul_tf32":
        if suffix != "f32":
            raise ValueError("matmul_tf32 exists for float32 only")
        return KernelRef("matmul.cu", "matmul_tf32", family, "f32", ("GRADFLOW_WMMA",))
    if (family in _TILED) != (tile is not None):
        raise ValueError(f"{family}: tile {'required' if family in _TILED else 'not taken'}")
    if tile is not None and tile not in CONV_TILES:
        raise ValueError(f"{family}: unknown tile {tile!r}; have {', '.join(CONV_TILES)}")
    name = f"{family}_{suffix}" + (f"_{tile}" if tile else "")
    return KernelRef(_FILE_OF[family], name, family, suffix)


def all_kernels() -> list[KernelRef]:
    """Every kernel the launchers can ask for (the compile test checks each exists)."""
    refs = []
    for family in SIGNATURES:
        if family == "matmul_tf32":
            refs.append(kernel_ref(family, "f32"))
            continue
        for suffix in _T_OF:
            tiles = CONV_TILES if family in _TILED else (None,)
            refs.extend(kernel_ref(family, suffix, t) for t in tiles)
    return refs


def pack_args(ref: KernelRef, values) -> tuple:
    """Check ``values`` against the kernel's signature and convert scalars to exact C types.

    Arrays (CuPy, or NumPy under the CPU emulator) must have the pointer's dtype and be
    C-contiguous; ints are range-checked for ``int``; errors name the kernel and argument.
    """
    kinds = SIGNATURES[ref.family]
    values = tuple(values)
    if len(values) != len(kinds):
        raise TypeError(f"{ref.name}: takes {len(kinds)} arguments, got {len(values)}")
    t = _T_OF[ref.suffix]
    out = []
    for i, (kind, v) in enumerate(zip(kinds, values)):
        if kind.endswith("*"):
            want = np.dtype(np.int64) if "i64" in kind else t
            dt = getattr(v, "dtype", None)
            if dt is None or not hasattr(v, "flags") or np.dtype(dt) != want:
                raise TypeError(f"{ref.name}: argument {i} must be a {want} device array, got "
                                f"{type(v).__name__}{'' if dt is None else ' of ' + str(dt)}")
            if not v.flags.c_contiguous:
                raise ValueError(f"{ref.name}: argument {i} (shape {tuple(v.shape)}) must be C-contiguous")
            out.append(v)
        elif kind == "i32":
            iv = int(v)
            if not -INT32_MAX - 1 <= iv <= INT32_MAX:
                raise ValueError(f"{ref.name}: argument {i} = {iv} does not fit a 32-bit int")
            out.append(np.int32(iv))
        elif kind == "i64":
            out.append(np.int64(int(v)))
        elif kind == "T":
            out.append(t.type(v))
        else:  # pragma: no cover - SIGNATURES is fixed
            raise AssertionError(kind)
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# grids

def check_grid(op: str, grid: tuple[int, int, int]) -> tuple[int, int, int]:
    """Return ``grid`` if CUDA can launch it, else a ValueError naming ``op``."""
    x, y, z = grid
    if not (1 <= x <= MAX_GRID_X and 1 <= y <= MAX_GRID_YZ and 1 <= z <= MAX_GRID_YZ):
        raise ValueError(f"{op}: launch grid {grid} is outside CUDA's limits "
                         f"(x <= {MAX_GRID_X}, y and z <= {MAX_GRID_YZ}); the problem is too large for one launch")
    return grid


def grid_stride_blocks(total: int, sm_count: int = DEFAULT_SM_COUNT) -> int:
    """Blocks for a grid-stride loop over ``total`` elements (capped; the loop covers the rest)."""
    return max(1, min(ceil_div(total, BLOCK), BLOCKS_PER_SM * max(1, sm_count)))


# ---------------------------------------------------------------------------------------------
# convolution

def _shape4(op: str, name: str, shape, layout: str) -> tuple[int, int, int, int]:
    shape = tuple(int(s) for s in shape)
    if len(shape) != 4:
        raise ValueError(f"{op}: {name} must be 4-D {layout}, got shape {shape}")
    return shape


@dataclass(frozen=True)
class ConvGeom:
    """Resolved conv2d geometry; ``kernel_args`` is the order conv2d.cu takes it in."""
    N: int
    H: int
    W: int
    C: int
    KH: int
    KW: int
    F: int
    OH: int
    OW: int
    sh: int
    sw: int
    pt: int
    pb: int
    pl: int
    pr: int
    dh: int
    dw: int

    @property
    def x_shape(self):
        return (self.N, self.H, self.W, self.C)

    @property
    def w_shape(self):
        return (self.KH, self.KW, self.C, self.F)

    @property
    def y_shape(self):
        return (self.N, self.OH, self.OW, self.F)

    def kernel_args(self) -> tuple[int, ...]:
        return (self.N, self.H, self.W, self.C, self.KH, self.KW, self.F, self.OH, self.OW,
                self.sh, self.sw, self.pt, self.pl, self.dh, self.dw)


def conv_geometry(op: str, x_shape, w_shape, stride, padding, dilation, dy_shape=None) -> ConvGeom:
    """Validate a conv2d call and resolve its output size (contract: kernels/README.md)."""
    N, H, W, C = _shape4(op, "x", x_shape, "[N, H, W, C]")
    KH, KW, Cw, F = _shape4(op, "w", w_shape, "[KH, KW, C, F]")
    if Cw != C:
        raise ValueError(f"{op}: w has {Cw} input channels but x has {C}; x {tuple(x_shape)}, w {tuple(w_shape)}")
    if min(N, H, W, C, KH, KW, F) < 1:
        raise ValueError(f"{op}: empty dimension in x {tuple(x_shape)} or w {tuple(w_shape)}")
    sh, sw = _pair(op, "stride", stride, 1)
    dh, dw = _pair(op, "dilation", dilation, 1)
    pt, pb, pl, pr = _padding(op, padding)
    OH = (H + pt + pb - dh * (KH - 1) - 1) // sh + 1
    OW = (W + pl + pr - dw * (KW - 1) - 1) // sw + 1
    if OH < 1 or OW < 1:
        raise ValueError(f"{op}: the {KH}x{KW} kernel (dilation {(dh, dw)}) does not fit the {H}x{W} input "
                         f"with padding {padding!r}; x {tuple(x_shape)}, w {tuple(w_shape)}")
    g = ConvGeom(N, H, W, C, KH, KW, F, OH, OW, sh, sw, pt, pb, pl, pr, dh, dw)
    if dy_shape is not None and tuple(int(s) for s in dy_shape) != g.y_shape:
        raise ValueError(f"{op}: dy must have shape {g.y_shape} for x {g.x_shape} and w {g.w_shape}, "
                         f"got {tuple(dy_shape)}")
    for kind in ("fwd", "bwd_input", "bwd_filter"):
        for dim in conv_gemm_shape(kind, g):
            if dim > INT32_MAX:
                raise ValueError(f"{op}: x {g.x_shape} with w {g.w_shape} is too large for 32-bit GEMM indices")
    return g


def conv_gemm_shape(kind: str, g: ConvGeom) -> tuple[int, int, int]:
    """(M, N, K) of the implicit GEMM of pass ``kind`` (fwd, bwd_input, bwd_filter)."""
    if kind == "fwd":
        return g.N * g.OH * g.OW, g.F, g.KH * g.KW * g.C
    if kind == "bwd_input":
        return g.N * g.H * g.W, g.C, g.KH * g.KW * g.F
    if kind == "bwd_filter":
        return g.KH * g.KW * g.C, g.F, g.N * g.OH * g.OW
    raise ValueError(f"unknown conv pass {kind!r}")


def choose_conv_tile(M: int, N: int, sm_count: int = DEFAULT_SM_COUNT) -> Tile:
    """Tile for an M x N conv GEMM: narrow outputs take 128x32 (no idle half tile), small or
    under-filled problems 64x64 (twice the blocks), the rest 128x64 (most reuse per load)."""
    if N <= 32:
        return CONV_TILES["128x32"]
    if M <= 64 or ceil_div(M, 128) * ceil_div(N, 64) < sm_count:
        return CONV_TILES["64x64"]
    return CONV_TILES["128x64"]


def splitk_plan(M: int, N: int, K: int, tile: Tile, sm_count: int = DEFAULT_SM_COUNT) -> tuple[int, int]:
    """``(splits, k_chunk)``: split K so about SPLITK_BLOCKS_PER_SM blocks per SM run, each over
    at least MIN_KTILES_PER_SPLIT slices; ``k_chunk`` is a multiple of ``tile.bk`` and
    ``splits * k_chunk >= K`` with no empty split."""
    tiles = ceil_div(M, tile.bm) * ceil_div(N, tile.bn)
    ktiles = max(1, ceil_div(K, tile.bk))
    want = max(1, (SPLITK_BLOCKS_PER_SM * max(1, sm_count)) // tiles)
    cap = max(1, ktiles // MIN_KTILES_PER_SPLIT)
    splits = min(want, cap, MAX_GRID_YZ)
    k_chunk = ceil_div(ktiles, splits) * tile.bk
    return max(1, ceil_div(K, k_chunk)), k_chunk


@dataclass(frozen=True)
class GemmLaunch:
    """One tiled-GEMM launch: kernel, grid, block and (backward filter) the split-K plan."""
    kernel: KernelRef
    tile: Tile
    grid: tuple[int, int, int]
    block: tuple[int, int, int] = (BLOCK, 1, 1)
    splits: int = 1
    k_chunk: int = 0


def conv_launch(op: str, kind: str, g: ConvGeom, suffix: str, sm_count: int = DEFAULT_SM_COUNT) -> GemmLaunch:
    """The launch for conv pass ``kind``: blockIdx.x walks M tiles, y N tiles, z K splits."""
    M, N, K = conv_gemm_shape(kind, g)
    tile = choose_conv_tile(M, N, sm_count)
    splits, k_chunk = (1, K)
    if kind == "bwd_filter":
        splits, k_chunk = splitk_plan(M, N, K, tile, sm_count)
    grid = check_grid(op, (ceil_div(M, tile.bm), ceil_div(N, tile.bn), splits))
    return GemmLaunch(kernel_ref(f"conv2d_{kind}", suffix, tile.name), tile, grid, (BLOCK, 1, 1), splits, k_chunk)


# ---------------------------------------------------------------------------------------------
# pooling

@dataclass(frozen=True)
class PoolGeom:
    """Resolved pooling geometry; ``kernel_args`` is the order pool.cu takes it in."""
    N: int
    H: int
    W: int
    C: int
    OH: int
    OW: int
    ph: int
    pw: int
    sh: int
    sw: int
    pt: int
    pb: int
    pl: int
    pr: int

    @property
    def x_shape(self):
        return (self.N, self.H, self.W, self.C)

    @property
    def y_shape(self):
        return (self.N, self.OH, self.OW, self.C)

    def kernel_args(self) -> tuple[int, ...]:
        return (self.N, self.H, self.W, self.C, self.OH, self.OW, self.ph, self.pw, self.sh, self.sw,
                self.pt, self.pl)


def pool_geometry(op: str, x_shape, pool, stride, padding, dy_shape=None) -> PoolGeom:
    """Validate a pooling call and resolve its output size (contract: kernels/README.md)."""
    N, H, W, C = _shape4(op, "x", x_shape, "[N, H, W, C]")
    if min(N, H, W, C) < 1:
        raise ValueError(f"{op}: empty dimension in x {tuple(x_shape)}")
    ph, pw = _pair(op, "pool", pool, 1)
    sh, sw = _pair(op, "stride", stride, 1)
    pt, pb, pl, pr = _padding(op, padding)
    OH = (H + pt + pb - ph) // sh + 1
    OW = (W + pl + pr - pw) // sw + 1
    if OH < 1 or OW < 1:
        raise ValueError(f"{op}: the {ph}x{pw} pool does not fit the {H}x{W} input with padding "
                         f"{padding!r}; x {tuple(x_shape)}")
    g = PoolGeom(N, H, W, C, OH, OW, ph, pw, sh, sw, pt, pb, pl, pr)
    if dy_shape is not None and tuple(int(s) for s in dy_shape) != g.y_shape:
        raise ValueError(f"{op}: dy must have shape {g.y_shape} for x {g.x_shape}, got {tuple(dy_shape)}")
    return g


# ---------------------------------------------------------------------------------------------
# batch norm

@dataclass(frozen=True)
class BatchNormPlan:
    """Grids of the batch-norm kernels for x[M, C]."""
    splits: int
    rows_per_split: int
    partial_grid: tuple[int, int, int]    # bn_stats_partial / bn_bwd_partial
    finalize_grid: tuple[int, int, int]   # bn_stats_finalize / bn_bwd_finalize: one warp per channel
    elementwise_grid: tuple[int, int, int]


def batch_norm_plan(op: str, M: int, C: int, sm_count: int = DEFAULT_SM_COUNT) -> BatchNormPlan:
    """Split the rows so about BN_BLOCKS_PER_SM reduction blocks per SM run, each over at least
    BN_MIN_ROWS_PER_SPLIT rows, with no empty split."""
    if M < 1 or C < 1:
        raise ValueError(f"{op}: x must have at least one row and one channel, got [M, C] = [{M}, {C}]")
    if M * C > 2**62 or M > INT32_MAX:
        raise ValueError(f"{op}: x [M, C] = [{M}, {C}] is too large")
    col_blocks = ceil_div(C, 32)
    want = max(1, ceil_div(BN_BLOCKS_PER_SM * max(1, sm_count), col_blocks))
    cap = max(1, ceil_div(M, BN_MIN_ROWS_PER_SPLIT))
    splits = min(want, cap, MAX_GRID_YZ)
    rows = ceil_div(M, splits)
    splits = ceil_div(M, rows)
    return BatchNormPlan(
        splits, rows,
        check_grid(op, (col_blocks, splits, 1)),
        check_grid(op, (ceil_div(C, 8), 1, 1)),
        (grid_stride_blocks(M * C, sm_count), 1, 1),
    )


def check_vectors(op: str, C: int, **vectors) -> None:
    """Each named per-channel vector must have shape (C,)."""
    for name, shape in vectors.items():
        if tuple(shape) != (C,):
            raise ValueError(f"{op}: {name} must have shape ({C},), one value per channel, got {tuple(shape)}")


# ---------------------------------------------------------------------------------------------
# matmul

@dataclass(frozen=True)
class MatmulShapes:
    """numpy.matmul shape rules: a[..., M, K] @ b[..., K, N] with broadcast batch dims."""
    batch: tuple[int, ...]
    M: int
    K: int
    N: int
    a_batch: tuple[int, ...]
    b_batch: tuple[int, ...]
    out_shape: tuple[int, ...]


def matmul_shapes(op: str, a_shape, b_shape) -> MatmulShapes:
    a_shape, b_shape = tuple(int(s) for s in a_shape), tuple(int(s) for s in b_shape)
    if not a_shape or not b_shape:
        raise ValueError(f"{op}: operands must be at least 1-D, got a {a_shape} and b {b_shape}")
    a2 = (1,) + a_shape if len(a_shape) == 1 else a_shape
    b2 = b_shape + (1,) if len(b_shape) == 1 else b_shape
    M, K = a2[-2:]
    Kb, N = b2[-2:]
    if K != Kb:
        raise ValueError(f"{op}: inner dimensions differ: a {a_shape} has K={K}, b {b_shape} has K={Kb}")
    try:
        batch = tuple(np.broadcast_shapes(a2[:-2], b2[:-2]))
    except ValueError:
        raise ValueError(f"{op}: batch dimensions of a {a_shape} and b {b_shape} do not broadcast") from None
    out = batch + ((M,) if len(a_shape) > 1 else ()) + ((N,) if len(b_shape) > 1 else ())
    for dim in (M, N, K):
        if dim > INT32_MAX:
            raise ValueError(f"{op}: a {a_shape} @ b {b_shape} is too large for 32-bit GEMM indices")
    return MatmulShapes(batch, M, K, N, a2[:-2], b2[:-2], out)


def batch_stride(own_batch: tuple[int, ...], batch: tuple[int, ...], rows: int, cols: int) -> int | None:
    """Element stride between the operand's matrices for the flattened ``batch``: ``rows*cols``
    when it has every batch dim, 0 when it has none (broadcast), None when it must be expanded."""
    if int(np.prod(own_batch, dtype=np.int64)) == 1:
        return 0
    if tuple((1,) * (len(batch) - len(own_batch)) + tuple(own_batch)) == tuple(batch):
        return rows * cols
    return None


def matmul_chunks(op: str, M: int, N: int, batch: int, tile: Tile) -> list[tuple[tuple[int, int, int], int, int]]:
    """``[(grid, first, count)]``: launches covering the batch, at most 65535 matrices each."""
    gx, gy = ceil_div(M, tile.bm), ceil_div(N, tile.bn)
    out = []
    for first in range(0, max(batch, 1), MAX_GRID_YZ):
        count = min(MAX_GRID_YZ, batch - first)
        out.append((check_grid(op, (max(gx, 1), max(gy, 1), count)), first, count))
    return out


def use_tf32(dtype, allow_tf32: bool, compute_capability: int) -> bool:
    """The TF32 tensor-core path: float32, allowed by config, on sm_80 or newer."""
    return bool(allow_tf32) and np.dtype(dtype) == np.float32 and compute_capability >= 80


# ---------------------------------------------------------------------------------------------
# outputs

def check_out(op: str, out, shape: tuple[int, ...], dtype) -> None:
    """``out=`` must be a C-contiguous array of exactly ``shape`` and ``dtype``."""
    want = np.dtype(dtype)
    got_shape = tuple(getattr(out, "shape", ()))
    got_dtype = getattr(out, "dtype", None)
    flags = getattr(out, "flags", None)
    if (got_shape != tuple(shape) or got_dtype is None or np.dtype(got_dtype) != want
            or not (flags and flags.c_contiguous)):
        raise ValueError(f"{op}: out must be a C-contiguous {want} array of shape {tuple(shape)}, got "
                         f"{type(out).__name__} of shape {got_shape} and dtype {got_dtype}"
                         f"{'' if not flags or flags.c_contiguous else ' (not C-contiguous)'}")
