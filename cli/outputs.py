"""Output rules: where an eqt command may write, checked before any work, and how it writes.

- An output equal to an input (after symlinks and hard links), or to another output, is refused.
- A default output name (derived from the input) that already exists is replaced only when it
  holds this command's result from the same inputs: another input would otherwise overwrite it.
- A regular file (new or existing) is replaced atomically: written under a temporary name in
  the same folder (`.eqt-<host>-<pid>-...`), fsync'ed, renamed. A symlink is followed: its
  target is replaced, the link kept.
- A character device or FIFO (/dev/null, /dev/stdout, a named pipe) is written as a stream,
  never replaced; '-' is standard output.
- A directory, socket, block device, missing or unwritable folder is refused.
- SIGTERM, SIGHUP and SIGINT end the command with one line and no temporary file left; a kill -9
  leaves its temporary file, which the next eqt command writing to that folder removes once
  its process is gone.
"""
import contextlib
import dataclasses
import errno
import hashlib
import os
import shutil
import signal
import socket
import stat
import sys
import tempfile

from eqt_analysis.errors import InputError

TEMP_PREFIX = ".eqt-"
_HOST = socket.gethostname().replace("-", "_") or "host"


class Interrupted(BaseException):
    """A termination signal arrived; raised in the main thread so that cleanups run."""

    def __init__(self, signum):
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


@contextlib.contextmanager
def _handlers(handler, signals, keep_sigint=False):
    """Install `handler` for `signals` in the main thread (elsewhere: leave signals alone), restoring the
    previous handlers afterwards; `keep_sigint`: SIGINT's handler is also restored (the handler may ignore it)."""
    try:
        previous = {sig: signal.signal(sig, handler) for sig in signals}
        if keep_sigint:
            previous[signal.SIGINT] = signal.getsignal(signal.SIGINT)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def signals_as_exceptions():
    """SIGTERM and SIGHUP raise `Interrupted` (SIGINT raises KeyboardInterrupt as usual); a
    second signal during cleanup is ignored. The previous handlers come back afterwards."""
    def handler(signum, _frame):
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        raise Interrupted(signum)
    return _handlers(handler, (signal.SIGTERM, signal.SIGHUP), keep_sigint=True)


@contextlib.contextmanager
def deferred_signals():
    """Hold SIGTERM, SIGHUP and SIGINT for the duration of a short critical section (a frame and its
    checkpoint written together); one that arrived meanwhile is raised at its end (Interrupted, or
    KeyboardInterrupt for SIGINT)."""
    pending = []
    with _handlers(lambda signum, _frame: pending.append(signum), (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)):
        yield
    if pending:
        if pending[0] == signal.SIGINT:
            raise KeyboardInterrupt
        raise Interrupted(pending[0])


@dataclasses.dataclass(frozen=True)
class Target:
    """One checked output: `path` as given; `kind` 'stdout', 'stream' (written through, never
    replaced) or 'file' (replaced atomically at `real`, the symlink-resolved path)."""

    path: str
    kind: str
    real: str | None = None


def _identity(path):
    """(device, inode) of an existing path after links, or None."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _stdout_identity():
    """(device, inode) of what standard output is (a pipe, a file, a terminal), or None."""
    with contextlib.suppress(AttributeError, OSError, ValueError):
        st = os.fstat(sys.stdout.fileno())
        return st.st_dev, st.st_ino
    return None


def _is_null_device(ident):
    """Whether the (device, inode) `ident` is /dev/null (outputs may share it: it replaces nothing)."""
    return ident is not None and ident == _identity(os.devnull)


def check_output(path, option="-o"):
    """A Target for `path`, or InputError (exit 2) when eqt must not or cannot write there."""
    if path == "-":
        if sys.stdout is None:
            raise InputError("standard output is closed", "-")
        stream = getattr(sys.stdout, "buffer", sys.stdout)
        with contextlib.suppress(AttributeError, OSError, ValueError):
            if os.isatty(stream.fileno()):
                raise InputError(f"refusing to write binary output to a terminal; redirect it or "
                                 f"give {option} FILE", "-")
        return Target("-", "stdout")
    if not path or path.endswith(("/", os.sep)):
        raise InputError(f"{option} names a folder; give a file name", path or "''")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as err:
        raise InputError(f"cannot use as output ({err.strerror})", path) from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise InputError(f"is a directory; {option} needs a file name", path)
        if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
            return Target(path, "stream")
        if not stat.S_ISREG(st.st_mode):
            kind = "socket" if stat.S_ISSOCK(st.st_mode) else "block device" if stat.S_ISBLK(st.st_mode) else "special file"
            raise InputError(f"is a {kind}; eqt writes only regular files, character devices and pipes", path)
        if not os.access(path, os.W_OK):
            raise InputError("exists and is not writable", path)
    real = os.path.realpath(path)
    folder = os.path.dirname(real)
    if not os.path.isdir(folder):
        raise InputError(f"folder {folder} does not exist", path)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"folder {folder} is not writable", path)
    return Target(path, "file", real)


def claim(outputs, inputs, command=None, default=None):
    """Check every output before any work: `outputs` maps option names to paths (None = not
    asked for), `inputs` lists the input paths. `default` is the option whose path was derived
    from the input: it is replaced only when it holds `command`'s result from the same inputs.
    Returns {option: Target or None}."""
    targets = {opt: None if path is None else check_output(path, opt) for opt, path in outputs.items()}
    sources = {}
    for path in inputs:
        if path and path != "-":
            ident = _identity(path)
            if ident is not None:
                sources[ident] = path
    seen, stdout = {}, _stdout_identity()
    for opt, target in targets.items():
        if target is None:
            continue
        ident = stdout if target.kind == "stdout" else _identity(target.path)
        if ident is not None and ident in sources:
            raise InputError(f"{opt} would overwrite the input {sources[ident]}", target.path)
        key = ident or (("new", target.real) if target.kind == "file" else "stdout")
        if key in seen and not _is_null_device(ident):
            if key in (stdout, "stdout"):  # '-' and /dev/stdout, /proc/self/fd/1 or the file stdout goes to
                raise InputError(f"{opt} and {seen[key]} both write to standard output", target.path)
            raise InputError(f"{opt} and {seen[key]} name the same file", target.path)
        seen[key] = opt
        if opt == default and ident is not None and target.kind == "file":
            _check_default(target, inputs, command)
    return targets


def source_ids(inputs):
    """What identifies a result's inputs: their resolved paths, one per line ('-' = stdin)."""
    return "\n".join("-" if p == "-" else os.path.realpath(p) for p in inputs)


def _check_default(target, inputs, command):
    """An existing file under a default name may be replaced only by a rerun of the same job."""
    import netCDF4

    made = None
    with contextlib.suppress(Exception):
        with netCDF4.Dataset(target.real) as nc:
            made = (getattr(nc, "eqt_command", None), getattr(nc, "eqt_sources", None))
    ok = made == (command, source_ids(inputs)) and "-" not in inputs
    if not ok:
        raise InputError(f"exists and does not hold {command}'s result for "
                         f"{' '.join(inputs)}; give -o to choose the output name (or remove it)",
                         target.path)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder):
    """Delete `.eqt-<host>-<pid>-*` files in `folder` left by killed eqt processes of this host."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            parts = entry.name[len(TEMP_PREFIX):].split("-", 2)
            if not entry.name.startswith(TEMP_PREFIX) or len(parts) < 3 or parts[0] != _HOST:
                continue
            if parts[1].isdigit() and not _pid_alive(int(parts[1])) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.remove(entry.path)


def temporary_file(folder, suffix):
    """A new empty temporary file in `folder`, named after this host and process."""
    fd, tmp = tempfile.mkstemp(suffix=suffix, prefix=f"{TEMP_PREFIX}{_HOST}-{os.getpid()}-", dir=folder)
    os.close(fd)
    return tmp


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_output(target, suffix=""):
    """Yield a temporary path to write the output to; on success it becomes `target` (a
    Target, or a path checked here): renamed over a regular file after fsync, or copied into a
    stream / stdout. On any failure or signal the temporary file is removed."""
    if not isinstance(target, Target):
        target = check_output(target)
    suffix = suffix or os.path.splitext(target.path)[1]
    folder = os.path.dirname(target.real) if target.kind == "file" else tempfile.gettempdir()
    remove_stale_temporaries(folder)
    tmp = temporary_file(folder, suffix)
    try:
        try:
            yield tmp
        except InputError as err:  # about what was being written: name the output, not its temporary name
            if err.path != tmp:
                raise
            raise InputError(err.message, target.path) from None
        if target.kind == "file":
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
            with contextlib.suppress(OSError):
                mode = stat.S_IMODE(os.stat(target.real).st_mode)  # keep an existing file's mode
            os.chmod(tmp, mode)
            _fsync(tmp)
            os.replace(tmp, target.real)
            with contextlib.suppress(OSError):
                _fsync(folder)
        else:
            _copy_to_stream(tmp, target)
    except (OSError, RuntimeError) as err:
        if is_out_of_space(err, folder):
            full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), target.path)
            full.nothing_written = True  # the temporary file goes; the target is as it was
            raise full from None
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def is_out_of_space(err, folder=None):
    """Whether an exception is a full disk or an exceeded quota: OSError ENOSPC or EDQUOT, or a NetCDF
    library error (it says "HDF error") while the file system of `folder` is (nearly) full."""
    if isinstance(err, OSError):
        return err.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(err, RuntimeError) and str(err).startswith("NetCDF") and folder is not None and \
        _nearly_full(folder)


def _nearly_full(folder, margin=1 << 20):
    """Whether the file system of `folder` has less than `margin` bytes left for this user."""
    try:
        fs = os.statvfs(folder)
    except OSError:
        return False
    return fs.f_bavail * fs.f_frsize < margin


def _copy_to_stream(tmp, target):
    try:
        with open(tmp, "rb") as src:
            if target.kind == "stdout":
                out = getattr(sys.stdout, "buffer", sys.stdout)
                shutil.copyfileobj(src, out)
                out.flush()
            else:
                with open(target.path, "wb") as out:
                    shutil.copyfileobj(src, out)
    except BrokenPipeError:
        raise InputError("the reader closed the pipe before the output was written", target.path) from None


def hold_lock(path):
    """Take an exclusive advisory lock (flock) on the existing file `path` for as long as the returned file
    object stays open (the OS drops it when the process ends, even on kill -9); InputError when another
    process holds it. eqt-md holds one on its trajectory, so two runs never write one file."""
    import fcntl

    handle = open(path, "rb")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise InputError("another process (an eqt-md run) is writing it; wait for it to end", path) from None
    return handle


def is_locked(path):
    """Does another process hold hold_lock's lock on `path`? (False when it does not exist.)"""
    import fcntl

    try:
        with open(path, "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return False


def file_checksum(path):
    """What identifies an input file in a checkpoint: "sha256:<hex digest>" of its bytes."""
    try:
        with open(path, "rb") as handle:
            return "sha256:" + hashlib.sha256(handle.read()).hexdigest()
    except OSError as err:
        raise InputError(f"cannot read the file ({err.strerror})", path) from None


def save_npz(arrays, path):
    """Write a checkpoint (numpy.savez of `arrays`) atomically: temporary file in the same folder (named as
    temporary_file names them, so that the next eqt command removes it after a kill -9), fsync, rename."""
    import numpy as np

    folder = os.path.dirname(os.path.abspath(path))
    remove_stale_temporaries(folder)  # a killed run's (kill -9)
    tmp = temporary_file(folder, ".npz")
    try:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def load_npz(path):
    """The arrays of a checkpoint written by save_npz; InputError when it cannot be read."""
    import numpy as np

    try:
        with np.load(path) as saved:
            return dict(saved)
    except Exception as err:  # noqa: BLE001 - any unreadable checkpoint is bad input
        raise InputError(f"not a readable eqt checkpoint ({type(err).__name__})", path) from None
