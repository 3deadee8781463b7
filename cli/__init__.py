"""eqt command-line tools: one small click command per job (installed as `eqt_cli`)."""
import gc
import os
import sys

# Whether this process was started as an eqt-* console script: not a test runner or notebook calling
# a command in process, and not a worker process (dask's) that imports the script again.
AS_COMMAND = os.path.basename(sys.argv[0]).startswith("eqt-") and sys.argv[0] in sys.orig_argv

if AS_COMMAND:
    # No garbage collection while numpy, numba and xarray import (~0.1 s of start-up); cli.common
    # freezes what they made and turns collection back on before the command runs.
    gc.disable()
    if not any(arg.split("=")[0] in ("--workers", "--scheduler") for arg in sys.argv[1:]):
        # Only --workers/--scheduler use dask, but once it is installed xarray imports dask.array and
        # dask.distributed in every command (~0.45 s): a command without them runs as if dask were absent.
        sys.modules.setdefault("dask", None)
        sys.modules.setdefault("distributed", None)
