"""gradflow: a Keras-style deep-learning framework on NumPy (CPU) or CuPy (CUDA)."""
__version__ = "0.1.0"
