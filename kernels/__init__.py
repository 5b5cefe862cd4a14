"""gradflow's kernels: ``reference`` (plain loops), ``vectorized`` (NumPy + BLAS), ``cpu`` (Numba), ``cuda`` (CUDA C).

Installed as ``gradflow.kernels``; nothing here is imported by ``import gradflow``.
"""
