"""dlcli: a command-line toolkit for deep learning on signals and time series."""

__version__ = "0.1.0"
