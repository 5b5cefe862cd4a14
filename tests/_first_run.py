"""Runs a snippet in a fresh Python process, as a new user's first run would, with every Numba compile
recorded (Numba's event API, no timings): shared by tests/test_first_run.py and
tests/test_first_run_kernels.py. Imported by name (tests/conftest.py puts tests/ on sys.path)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: the settings a first run must not inherit from the test process (its cache folders, a pinned kernel)
CLEARED = ("NUMBA_CACHE_DIR", "GRADFLOW_CACHE_DIR", "GRADFLOW_KERNELS", "XDG_CACHE_HOME")

#: put before the snippet: ``compiled`` collects [module, qualname, signature] of every compile, and
#: the snippet ends by printing a JSON object as its last line of stdout
PREAMBLE = textwrap.dedent("""
    import json, sys
    from numba.core import event

    compiled = []

    class Count(event.Listener):
        def on_start(self, ev):
            pass

        def on_end(self, ev):
            d = ev.data
            f = d["dispatcher"].py_func
            compiled.append([f.__module__, f.__qualname__, str(d["args"])])

    event.register("numba:compile", Count())
""")


def run_fresh(snippet: str, cwd: Path, timeout: int = 900, **env) -> dict:
    """Run ``PREAMBLE + snippet`` in a new interpreter on the numpy backend, with this checkout first
    on the path and ``env`` added; returns the JSON object of its last stdout line."""
    full = {k: v for k, v in os.environ.items() if k not in CLEARED}
    full.update(GRADFLOW_BACKEND="numpy", PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    full.update(env)
    out = subprocess.run([sys.executable, "-c", PREAMBLE + textwrap.dedent(snippet)], env=full, cwd=cwd,
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def gradflow_compiles(run: dict) -> list:
    """The compiles of gradflow's own kernels in ``run`` (not Numba's helpers compiled on the way)."""
    return [c for c in run["compiled"] if c[0].startswith("gradflow")]
