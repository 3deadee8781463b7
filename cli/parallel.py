"""--workers N and --scheduler ADDRESS: an analysis spread over dask.distributed workers.

The model commands (eqt-rotvar, eqt-eval) spread their structures: every worker builds the
model once (`remote_model`) and evaluates whole structures: the numbers are the serial ones
(measured: identical in float64; in float32 within float32 rounding, as the padded neighbour
slots a model has grown to depend on the structures it saw before).

The whole-trajectory analyses (MSD, C(t)) spread their atom chunks: one task per chunk of atoms
(of one run), which opens the run itself and returns the chunk's partial sums; the driver
adds them in the serial order, so the result is bit for bit the serial one (`mapper`,
`openers`).

The streamed analyses (RDF, orientation) are sums of per-frame partial sums kept in blocks of
consecutive frames (eqt_analysis.blocks.Blocks). Here the stream of selected frames (of one
trajectory or of several runs, in order) is cut into pieces that start at multiples of the
final block length; each piece is one dask task that reads its frames from the files itself
and returns its Blocks (only partial sums travel, never frames); the pieces are joined in
stream order (Blocks.joined), so the result equals the serial one up to the order of the
additions (1e-12 relative, block for block).

dask is an optional extra (`pip install 'eqt[dask]'`), imported only when these options are
given. `--workers N` starts a loopback-only LocalCluster of N single-threaded processes (Numba
and BLAS limited to one thread each; closed at the end); `--scheduler ADDRESS` uses a running cluster (e.g. one started with
`dask scheduler` and `dask worker`, or by dask-jobqueue on SLURM), whose workers must have eqt
installed and see the input files at the same paths.
"""
import contextlib
import functools
import logging
import os
import re

import click

from eqt_analysis.errors import InputError

TASKS_PER_WORKER = 8  # pieces per worker: enough to balance, few enough that scheduling stays cheap


def options(func):
    """--workers and --scheduler."""
    func = click.option("--scheduler", default=None, metavar="ADDRESS",
                        help="Spread the work over a running dask.distributed cluster (tcp://host:8786, or a "
                             "scheduler file's path); its workers must see the input files at the same paths. "
                             "Needs pip install 'eqt[dask]'.")(func)
    return click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
                        help="Spread the work over N local worker processes (dask.distributed, loopback only). "
                             "Needs pip install 'eqt[dask]'.")(func)


@contextlib.contextmanager
def client(workers=None, scheduler=None):
    """A dask.distributed Client for --workers / --scheduler, closed afterwards; None (no dask
    imported) when neither is given."""
    if workers is None and scheduler is None:
        yield None
        return
    if workers is not None and scheduler is not None:
        raise InputError("give --workers or --scheduler, not both")
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise InputError("--workers and --scheduler need dask.distributed: pip install 'eqt[dask]'") from None
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    if scheduler is not None:
        if os.path.isfile(scheduler):
            kwargs = {"scheduler_file": scheduler}
        elif "://" in scheduler or re.fullmatch(r"[\w.\-\[\]:]+:\d+", scheduler):
            kwargs = {"address": scheduler}
        else:
            raise InputError("no such scheduler file, and not an address such as tcp://host:8786", scheduler)
        try:
            dask_client = Client(timeout="10s", **kwargs)
        except (OSError, TimeoutError, ValueError) as err:
            raise InputError(f"cannot reach the dask scheduler ({type(err).__name__}: {err})", scheduler) from None
        with dask_client:
            if not dask_client.scheduler_info().get("workers"):
                click.echo(f"waiting for the first worker of the scheduler at {scheduler} (Ctrl-C stops)", err=True)
                dask_client.wait_for_workers(1)
            yield dask_client
        return
    one_core = {name: "1" for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                       "MKL_NUM_THREADS")}  # a worker per core, not a worker per thread pool
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", env=one_core, silence_logs=logging.CRITICAL) as cluster, \
            Client(cluster) as dask_client:
        yield dask_client


def mapper(dask_client):
    """map(function, items) for the whole-trajectory analyses: the builtin map without a
    cluster, else one task per item on the cluster; results in the order of the items."""
    if dask_client is None:
        return map

    def cluster_map(function, items):
        for future in dask_client.map(function, list(items), pure=False):
            yield future.result()
    return cluster_map


def openers(paths, fmt, topology, units, start=0, stop=None, stride=1):
    """A function per run that opens it where it is called (on a worker): what the tasks of
    the whole-trajectory analyses receive instead of a Dataset."""
    from eqt_analysis import io

    if "-" in paths:
        raise InputError("--workers and --scheduler read files: not standard input ('-')")
    return [functools.partial(io.open_trajectory, os.path.abspath(path), fmt, topology, units, start=start, stop=stop,
                              stride=stride) for path in paths]


_MODEL = {}


def _built_model(kind, model_file, calculator, memory, x64, average):
    """The evaluator a worker builds once (kept for the next task of the same model)."""
    key = (kind, model_file, calculator, memory, x64, average)
    if key not in _MODEL:
        import jax

        jax.config.update("jax_enable_x64", x64)
        from eqt_model.calculator import Potential, ase_evaluator

        from .common import ase_calculator

        if calculator:
            function = ase_evaluator(ase_calculator(calculator))
        else:
            potential = Potential(model_file, average=average, memory=memory)
            function = potential.over_rotations if kind == "rotations" else potential.energy_and_forces
        _MODEL.clear()
        _MODEL[key] = function
    return _MODEL[key]


def remote_model(kind, model_file=None, calculator=None, memory=1024, x64=False, average=None):
    """A picklable function that builds, on a worker, a model's evaluator: kind "rotations"
    (evaluate(positions, cell, numbers, pbc, rotations), for eqt-rotvar) or "model"
    (energy_and_forces, plain or averaged over the grid named `average`, for eqt-eval)."""
    return functools.partial(_built_model, kind, model_file and os.path.abspath(model_file), calculator, memory,
                             bool(x64), average)


def selected_counts(paths, fmt, topology, start=0, stop=None, stride=1):
    """Selected frames of every run (the --start/--stop/--stride selection of each file)."""
    from eqt_analysis import io

    counts = []
    for path in paths:
        if path == "-":
            raise InputError("--workers and --scheduler read files: not standard input ('-')")
        total = io.count_frames(path, fmt, topology)
        n = len(range(start, total if stop is None else min(stop, total), stride))
        if n == 0:
            raise InputError(io.no_frames_selected(total, start, stop, stride), path)
        counts.append(n)
    return counts


def pieces(n_frames, block, n_pieces):
    """[lo, hi) ranges of a stream of n_frames frames, about n_pieces of them, each starting at
    a multiple of `block` and (but the last) a multiple of it long."""
    size = block * max(1, -(-n_frames // (block * n_pieces)))
    return [(lo, min(lo + size, n_frames)) for lo in range(0, n_frames, size)]


def _read_piece(paths, counts, lo, hi, fmt, topology, units, start, stride, chunk):
    """(path, chunk) of stream frames [lo, hi) (stream: the selected frames of each run, in order)."""
    from .common import read_chunks

    first = 0
    for path, n in zip(paths, counts):
        a, b = max(lo - first, 0), min(hi - first, n)
        if a < b:
            for ds in read_chunks(path, fmt, topology, units, start + a * stride, start + b * stride, stride, chunk):
                yield path, ds
        first += n


@contextlib.contextmanager
def blamed(path, first):
    """An InputError raised while a run's frames are analysed names that run, not the first
    run (whose name the analysis carries)."""
    try:
        yield
    except InputError as err:
        if path != first and err.path in (None, str(first)):
            raise InputError(err.message, path) from None
        raise


def _analyse_piece(analysis, paths, counts, lo, hi, fmt, topology, units, start, stride, chunk):
    """One task: feed stream frames [lo, hi) to a fresh copy of `analysis`; its Blocks."""
    for path, ds in _read_piece(paths, counts, lo, hi, fmt, topology, units, start, stride, chunk):
        with blamed(path, paths[0]):
            analysis.add_chunk(ds)
    return analysis.blocks


def feed(make, paths, fmt, topology, units, start, stop, stride, chunk, dask_client=None, bar=None):
    """The streamed analysis make(first chunk) fed with every selected frame of the runs
    `paths`: serially (dask_client None), or over the cluster's workers. bar: a tqdm bar."""
    from .common import check_same_atoms, frames_total, read_runs

    if dask_client is None:
        if bar is not None:
            bar.total = frames_total(paths, fmt, start, stop, stride)
        analysis = None
        for k, ds in read_runs(paths, fmt, topology, units, start, stop, stride, chunk):
            analysis = analysis or make(ds)
            with blamed(paths[k], paths[0]):
                analysis.add_chunk(ds)
            if bar is not None:
                bar.update(ds.sizes["frame"])
        return analysis
    counts = selected_counts(paths, fmt, topology, start, stop, stride)
    firsts = [next(_read_piece([path], [1], 0, 1, fmt, topology, units, start, stride, 1))[1] for path in paths]
    for path, ds in zip(paths[1:], firsts[1:]):
        check_same_atoms(firsts[0]["atomic_number"].values, ds["atomic_number"].values, paths[0], path)
    if bar is not None:
        bar.total = sum(counts)
    return stream(dask_client, make(firsts[0]), paths, counts, fmt, topology, units, start, stride, chunk,
                  bar.update if bar is not None else None)


def stream(dask_client, analysis, paths, counts, fmt, topology, units, start, stride, chunk, progress=None):
    """Feed the whole stream of `paths` (selected frames `counts` per run) to `analysis` (a
    streamed analysis with add_chunk and blocks, no frame added yet) through the cluster's
    workers; progress(frames) as pieces finish."""
    from dask.distributed import as_completed

    n_frames = sum(counts)
    n_workers = max(1, len(dask_client.scheduler_info().get("workers", {})))
    ranges = pieces(n_frames, analysis.blocks.final_block_frames(n_frames), TASKS_PER_WORKER * n_workers)
    futures = [dask_client.submit(_analyse_piece, analysis, paths, counts, lo, hi, fmt, topology, units, start,
                                  stride, chunk, pure=False) for lo, hi in ranges]
    size = {future.key: hi - lo for future, (lo, hi) in zip(futures, ranges)}
    for future in as_completed(futures):
        if future.status == "error":
            try:
                future.result()  # raises the task's error here (an InputError stays one)
            finally:
                dask_client.cancel([f for f in futures if f.key != future.key])
        if progress:
            progress(size[future.key])
    analysis.blocks = analysis.blocks.joined(dask_client.gather(futures), n_frames)
    return analysis
