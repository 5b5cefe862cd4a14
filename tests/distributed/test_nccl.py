"""The NCCL communicator (GPU data parallel). Without a GPU: its errors name the install, and the
local rank comes from the launcher. With one GPU (the lent device): a one-rank NCCL job sums in
place on the device and DataParallel keeps CuPy gradients there (marked ``gpu``). Several ranks
need a machine with several GPUs: not tested here."""
import numpy as np
import pytest

from gradflow.distribution import DataParallel, FakeCommunicator, NCCLCommunicator, local_rank


def test_local_rank_comes_from_the_launcher(monkeypatch):
    for var in ("OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "PMI_LOCAL_RANK", "SLURM_LOCALID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SLURM_LOCALID", "3")
    assert local_rank() == 3
    monkeypatch.setenv("OMPI_COMM_WORLD_LOCAL_RANK", "1")  # Open MPI's wins
    assert local_rank() == 1


def test_without_cupy_nccl_is_a_clear_error():
    try:
        import cupy  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r'gradflow-keras\[cuda12\].*gradflow-keras\[distributed\]'):
            NCCLCommunicator(FakeCommunicator())
    else:
        pytest.skip("CuPy is installed here: the GPU test below covers NCCL")


@pytest.mark.gpu
def test_one_rank_nccl_sums_on_the_device_and_data_parallel_keeps_gradients_there():
    import cupy

    from gradflow.autograd.tensor import Tensor

    try:
        from cupy.cuda import nccl
    except ImportError:
        nccl = None
    if not getattr(nccl, "available", False):
        pytest.skip("this CuPy has no NCCL (cupy.cuda.nccl.available is False)")
    comm = NCCLCommunicator(FakeCommunicator(), device=0)
    a = cupy.arange(6, dtype=cupy.float32)
    comm.allreduce_(a)  # one rank: the sum is the array itself, in place
    np.testing.assert_array_equal(a.get(), np.arange(6, dtype=np.float32))
    host = np.ones(3)
    comm.allreduce_(host)  # NumPy arrays go to the MPI side
    np.testing.assert_array_equal(host, np.ones(3))
    dp = DataParallel(communicator=comm)
    dp.size = 2  # exercise the fused-buffer path (the sum itself is one rank's)
    params = [Tensor(cupy.zeros((2, 3), cupy.float32)), Tensor(cupy.zeros(4, cupy.float32))]
    params[0].grad = Tensor(cupy.full((2, 3), 2.0, cupy.float32))
    params[1].grad = None
    dp.allreduce_gradients(params)
    assert all(isinstance(p.grad.data, cupy.ndarray) for p in params)
    buckets, _ = dp._bucket_plan(params, None)
    assert all(isinstance(b.buf, cupy.ndarray) for b in buckets)  # the buffer lives on the GPU
    np.testing.assert_array_equal(params[0].grad.data.get(), np.full((2, 3), 2.0, np.float32))
    np.testing.assert_array_equal(params[1].grad.data.get(), np.zeros(4, np.float32))
