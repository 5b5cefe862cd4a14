"""Stand-in ``cupyx.scipy``."""
