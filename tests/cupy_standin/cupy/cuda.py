"""Stand-in ``cupy.cuda``: one device (132 SMs, compute capability 9.0), streams and events that
count host syncs, ``runtime``/``memory``/``nccl`` with the real wheel's names (NCCL absent, as in
a wheel without libnccl)."""
from __future__ import annotations

import sys
import time
import types

from . import _API, __version__, _standin

_NAMES = frozenset(_API["modules"]["cupy.cuda"])


def _module(name: str, attrs: dict) -> types.ModuleType:
    real = frozenset(_API["modules"][f"cupy.cuda.{name}"])
    missing = sorted(k for k in attrs if k not in real)
    assert not missing, f"stand-in cupy.cuda.{name} defines names CuPy {__version__} lacks: {missing}"
    module = types.ModuleType(f"cupy.cuda.{name}")
    module.__dict__.update(attrs)

    def __getattr__(attr: str):
        why = "is not emulated" if attr in real else f"does not exist in CuPy {__version__}"
        raise AttributeError(f"cupy.cuda.{name}.{attr} {why} (stand-in)")
    module.__getattr__ = __getattr__
    sys.modules[f"cupy.cuda.{name}"] = module
    return module


class CUDARuntimeError(RuntimeError):
    pass


_PROPS = {"name": b"NVIDIA H100 (cupy stand-in)", "totalGlobalMem": 80 * 2**30, "multiProcessorCount": 132,
          "major": 9, "minor": 0, "sharedMemPerBlock": 49152, "sharedMemPerMultiprocessor": 233472,
          "maxThreadsPerBlock": 1024, "warpSize": 32, "l2CacheSize": 50 * 2**20, "clockRate": 1980000,
          "memoryClockRate": 2619000, "memoryBusWidth": 5120}


def _device_synchronize() -> None:
    _standin.sync("runtime.deviceSynchronize")


runtime = _module("runtime", {
    "getDeviceCount": lambda: 1,
    "getDevice": lambda: 0,
    "getDeviceProperties": lambda device: dict(_PROPS),
    "memGetInfo": lambda: (79 * 2**30, 80 * 2**30),
    "runtimeGetVersion": lambda: 13000,
    "driverGetVersion": lambda: 13000,
    "deviceSynchronize": _device_synchronize,
    "CUDARuntimeError": CUDARuntimeError,
})


class OutOfMemoryError(MemoryError):
    pass


memory = _module("memory", {"OutOfMemoryError": OutOfMemoryError})
nccl = _module("nccl", {"available": False})


class Device:
    def __init__(self, device=None) -> None:
        self.id = 0 if device is None else int(device)
        if self.id != 0:
            raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
        self.attributes = {"MultiProcessorCount": _PROPS["multiProcessorCount"], "WarpSize": 32,
                           "MaxThreadsPerBlock": 1024, "ComputeCapabilityMajor": 9, "ComputeCapabilityMinor": 0}
        self.compute_capability = "90"
        self.pci_bus_id = "0000:00:00.0"

    def use(self) -> None:
        pass

    def synchronize(self) -> None:
        _standin.sync("Device.synchronize")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def __eq__(self, other) -> bool:
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self) -> int:
        return self.id


class Stream:
    null: Stream

    def __init__(self, null=False, non_blocking=False, ptds=False) -> None:
        self.ptr = 0

    def synchronize(self) -> None:
        _standin.sync("Stream.synchronize")

    def use(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def record(self, event=None):
        return event or Event()

    def wait_event(self, event) -> None:
        pass

    done = property(lambda self: True)


Stream.null = Stream(null=True)


def get_current_stream(device_id=-1) -> Stream:
    return Stream.null


class Event:
    """Records the host clock (work here runs at once, so that is when it finished)."""

    def __init__(self, block=False, disable_timing=False, interprocess=False) -> None:
        self.done = True
        self._t = time.perf_counter()

    def record(self, stream=None) -> None:
        self._t = time.perf_counter()

    def synchronize(self) -> None:
        _standin.sync("Event.synchronize")


def get_elapsed_time(start_event, end_event) -> float:
    """Milliseconds between the two records (at least a nanosecond: rates stay finite)."""
    return max((end_event._t - start_event._t) * 1e3, 1e-6)


def is_available() -> bool:
    return True


def get_cuda_path():
    return "/usr/local/cuda"


def __getattr__(name: str):
    why = "is not emulated" if name in _NAMES else f"does not exist in CuPy {__version__}"
    raise AttributeError(f"cupy.cuda.{name} {why} (stand-in)")


for _name in ("Device", "Stream", "Event", "get_current_stream", "get_elapsed_time", "is_available",
              "get_cuda_path", "runtime", "memory"):  # nccl: a submodule, imported on its own
    assert _name in _NAMES, f"cupy.cuda.{_name} is not in CuPy {__version__}"
