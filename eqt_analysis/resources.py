"""Machine resources: refuse a request for more memory than the machine has, before any work."""
import os

from .errors import InputError

MEMORY_FRACTION = 0.8  # at most this share of physical memory for one analysis


def physical_memory():
    """Physical memory of the machine in bytes (None when the OS does not tell)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _size(n_bytes):
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.3g} {unit}"
    return f"{n_bytes / 1e3:.3g} kB"


def check_memory(n_bytes, what, source=None):
    """InputError when `what` (e.g. '100000000 bins x 3 pairs') needs more than 80 % of the
    machine's physical memory; n_bytes is the estimate in bytes."""
    total = physical_memory()
    if total is not None and n_bytes > MEMORY_FRACTION * total:
        raise InputError(f"{what} needs {_size(n_bytes)} of memory; this machine has {_size(total)}", source)
