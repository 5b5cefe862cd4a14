"""Every test here runs Open MPI ranks on hosts made of network namespaces (tests/multihost/hosts.py):
marked ``multihost``, skipped with the reason where that cannot be done (not root, no ``ip netns``, no
mpirun or mpi4py)."""
import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("_gf_hosts", Path(__file__).with_name("hosts.py"))
hosts_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hosts_module)


WHY_NOT = hosts_module.unavailable()


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
