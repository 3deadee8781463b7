"""eqt_analysis: trajectories in one xarray form, and Numba analysis kernels over them.

Practices: public functions take NumPy arrays or eqt Datasets (see `eqt_analysis.trajectory`)
in eqt units (Å, ps, eV, eV/Å, Å/ps, amu, K); only `eqt_analysis.io` touches files;
accumulations are float64.
"""
__version__ = "0.1.0"
