"""The CPU emulator of the .cu kernels checks what a GPU would fault on: a 16-byte vector load from
an address that is not a multiple of 16 fails the launch, naming the source line; and it plans
launches for 132 SMs, as on an H100."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _cuda_emu as emu  # noqa: E402

from gradflow.kernels.cuda import _module, gemm  # noqa: E402

pytestmark = pytest.mark.skipif(emu.compiler() is None, reason="the CUDA emulator needs g++")


def test_the_emulator_has_an_h100s_sm_count():
    assert emu.EmuRuntime().sm_count() == 132


def test_a_misaligned_16_byte_load_fails_the_launch():
    rt = emu.EmuRuntime()
    with _module.using_runtime(rt):
        a = rt.device(np.ones((8, 8), np.float32))
        b = rt.device(np.ones((8, 8), np.float32))
        np.testing.assert_allclose(gemm.matmul(a, b), np.full((8, 8), 8.0, np.float32))  # aligned: fine
        shifted = rt.xp.empty(8 * 8 + 1, np.float32)[1:].reshape(8, 8)  # 4 bytes past a 16-byte boundary
        shifted[...] = 1.0
        assert shifted.ctypes.data % 16 == 4
        real_pointer = rt.pointer
        rt.pointer = lambda arr: real_pointer(arr) & ~15  # the launcher believes it aligned: vector loads
        with pytest.raises(RuntimeError, match=r"misaligned access.*16-byte alignment.*matmul\.cu:\d+"):
            gemm.matmul(shifted, b)
