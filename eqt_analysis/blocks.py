"""Block statistics: every standard error eqt reports from blocks of consecutive frames.

One rule everywhere: the standard error of a value estimated from B blocks is the standard
deviation of its per-block values (ddof=1) over sqrt(B) (`standard_error`). It is trustworthy
only when blocks are longer than the correlation time, which `Blocks.error_growth` checks
(Flyvbjerg-Petersen style: the error must not grow when blocks are doubled).

- `Blocks`, for streamed analyses (RDF, orientation): an analysis adds one frame's partial
  sums at a time (a dict of float64 arrays that combine by addition); `block_frames=N` makes
  blocks of N consecutive frames; `block_frames=None` is automatic for streams of unknown
  length: blocks start one frame long and adjacent pairs are merged whenever there are
  `max_blocks` of them, so memory stays bounded and between max_blocks/2 and max_blocks equal
  blocks remain. A trailing incomplete block counts in the total but not in the errors.
- `LagBlocks`, for curves over lag times (MSD, correlation functions) of a whole trajectory:
  a lag needs blocks longer than itself, so the error at each lag comes from the most blocks
  that are: n_blocks blocks, then ceil(n_blocks / 2), ... down to 2 (the frames split evenly,
  a remainder dropped). Lags of half the run or more have no error (NaN, 0 blocks). Several
  runs: blocks as long as those of the shortest run, cut within each run and pooled.
"""
import numpy as np

from .errors import InputError


def standard_error(per_block, axis=0):
    """Standard error of the mean of per-block values: std(ddof=1) / sqrt(n_blocks) along `axis`."""
    per_block = np.asarray(per_block, dtype=float)
    return per_block.std(axis=axis, ddof=1) / np.sqrt(per_block.shape[axis])


def check_blocks(n_frames, n_blocks, source=None):
    """Frames per block; InputError unless n_frames makes n_blocks >= 2 blocks of >= 2 frames."""
    length = n_frames // n_blocks if n_blocks > 0 else 0
    if n_blocks < 2 or length < 2:
        raise InputError(f"{n_frames} frames cannot make {n_blocks} blocks of at least 2 frames (need at "
                         f"least {2 * max(n_blocks, 2)} frames, or fewer blocks)", source)
    return length


class LagBlocks:
    """The blockings of a run of n_frames frames (or of several runs: a list of their frames)
    behind the errors of a curve over lags. With several runs, the block lengths come from the
    shortest run, every run is cut into blocks of its own (never across a join), and the
    errors pool the blocks of all runs."""

    def __init__(self, n_frames, n_blocks, source=None):
        runs = [int(n_frames)] if np.ndim(n_frames) == 0 else [int(t) for t in n_frames]
        shortest = min(runs)
        check_blocks(shortest, n_blocks, source)
        counts = [n_blocks]
        while counts[-1] > 2:
            counts.append(max(2, (counts[-1] + 1) // 2))
        self.n_frames = max(runs)
        self.n_blocks = n_blocks
        self.per_run = [[n * t // shortest for t in runs] for n in counts]  # blocks of each run, per blocking
        self.layout = [(sum(per), shortest // n) for n, per in zip(counts, self.per_run)]  # (blocks, frames per block)

    def curves(self, curve_of, x, run=0, blockings=None):
        """Per-block curves of every blocking (or of the first `blockings`) for the frames x
        (frames first) of run `run`: [(blocks of that run, length, ...) arrays], curve_of mapping
        a block of x to its curve over lags 0..length-1."""
        return [np.array([curve_of(x[b * length:(b + 1) * length]) for b in range(per[run])])
                for (_, length), per in list(zip(self.layout, self.per_run))[:blockings]]

    def halves(self, run, n_frames):
        """True when the last blocking cuts run `run` of n_frames frames into two blocks that hold
        all of its frames (then the whole run's curve may come from the two halves)."""
        return self.per_run[-1][run] == 2 and 2 * self.layout[-1][1] == n_frames

    def blocking_for(self, lag):
        """Index in `layout` of the blocking with the most blocks that hold lag `lag` (frames),
        or None when no two blocks do."""
        return next((k for k, (_, length) in enumerate(self.layout) if lag < length), None)

    def errors(self, curves):
        """(standard error (n_frames, ...), blocks behind it (n_frames,)) at every lag, from the
        per-block curves of every blocking; NaN and 0 where no two blocks hold the lag."""
        err = np.full((self.n_frames,) + curves[0].shape[2:], np.nan)
        used = np.zeros(self.n_frames, dtype=np.int64)
        for (n, length), c in reversed(list(zip(self.layout, curves))):
            err[:length] = standard_error(c)
            used[:length] = n
        return err, used


def sum_chunks(keys, parts, progress=None):
    """{key: (curve sum, per-block sums, count)} of the chunks' (curve, LagBlocks.curves, count),
    added key by key in the order given (so a cluster's result is the serial one);
    progress.update(count) after each chunk."""
    sums = {}
    for key, (total, per_block, count) in zip(keys, parts):
        if key in sums:
            old_total, old_blocks, old_count = sums[key]
            sums[key] = (old_total + total, [a + b for a, b in zip(old_blocks, per_block)], old_count + count)
        else:
            sums[key] = (total, per_block, count)
        if progress is not None:
            progress.update(count)
    return sums


def combine_runs(runs, n_frames):
    """(curve over n_frames lags, pooled per-block curves) from the runs' (curve over the
    run's lags, LagBlocks.curves of the run): a curve averaged over time origins (MSD,
    correlation functions) weighs every origin of every run alike, so at each lag a run of T
    frames counts T - lag times; the per-block curves of all runs are pooled."""
    if len(runs) == 1:
        return runs[0]
    lags = np.arange(n_frames)
    total, origins = 0.0, np.zeros(n_frames)
    for curve, _ in runs:
        curve = np.asarray(curve, float)
        t = curve.shape[-1]
        weight = np.where(lags < t, t - lags, 0).astype(float)
        padded = np.zeros(curve.shape[:-1] + (n_frames,))
        padded[..., :t] = curve
        total = total + weight * padded
        origins += weight
    pooled = [np.concatenate(parts) for parts in zip(*(per_block for _, per_block in runs))]
    return total / origins, pooled


class Blocks:
    """Running and per-block totals of a stream's partial sums (see the module doc)."""

    def __init__(self, block_frames=None, max_blocks=64):
        if block_frames is not None and block_frames < 1:
            raise InputError("block length must be at least one frame")
        self.block_frames = block_frames or 1
        self.auto = block_frames is None
        self.max_blocks = max_blocks
        self.total = None
        self.blocks = []
        self._open = None
        self._open_frames = 0
        self.n_frames = 0

    def add_frames(self, sums):
        """Add several frames' partial sums: dict of arrays with a leading frame axis. Frames
        are added one by one, so results do not depend on how a stream was chunked."""
        n = len(next(iter(sums.values())))
        for f in range(n):
            self.add({k: v[f] for k, v in sums.items()})

    def add(self, sums):
        """Add one frame's partial sums (dict of arrays)."""
        if self.total is None:
            self.total = {k: np.zeros_like(v, dtype=np.float64) for k, v in sums.items()}
        if self._open is None:
            self._open = {k: np.zeros_like(v, dtype=np.float64) for k, v in sums.items()}
        for k, v in sums.items():
            self.total[k] += v
            self._open[k] += v
        self.n_frames += 1
        self._open_frames += 1
        if self._open_frames == self.block_frames:
            self.blocks.append(self._open)
            self._open, self._open_frames = None, 0
            if self.auto and len(self.blocks) == self.max_blocks:
                self.blocks = [{k: a[k] + b[k] for k in a} for a, b in zip(self.blocks[::2], self.blocks[1::2])]
                self.block_frames *= 2

    def final_block_frames(self, n_frames):
        """Frames per block once n_frames frames have been added (automatic: the smallest
        power of two that leaves fewer than max_blocks complete blocks)."""
        if not self.auto:
            return self.block_frames
        length = 1
        while n_frames // length >= self.max_blocks:
            length *= 2
        return length

    def joined(self, parts, n_frames):
        """These Blocks' settings with the partial sums of `parts`: Blocks fed with consecutive
        pieces of one stream of n_frames frames, each starting at a multiple of
        final_block_frames(n_frames) (so every block of a part lies inside one final block).
        The blocks equal the serial ones up to the order of the additions (~1e-16 relative)."""
        length = self.final_block_frames(n_frames)
        out = Blocks(None if self.auto else self.block_frames, self.max_blocks)
        out.block_frames, out.n_frames = length, n_frames
        for part in parts:
            if part.total is None:
                continue
            if out.total is None:
                out.total = {k: np.zeros_like(v) for k, v in part.total.items()}
            for k, v in part.total.items():
                out.total[k] += v
            blocks = part.blocks
            for _ in range(int(np.log2(length // part.block_frames)) if self.auto else 0):
                blocks = [{k: a[k] + b[k] for k in a} for a, b in zip(blocks[::2], blocks[1::2])]
            out.blocks.extend(blocks)
        if sum(part.n_frames for part in parts) != n_frames:
            raise ValueError("the parts do not add up to the stream")
        return out

    def estimate(self, normalize, source=None):
        """(value, standard error) of normalize(sums). With fewer than 2 complete blocks the
        errors are NaN (automatic blocks) or an InputError naming `source` is raised (explicit
        block length)."""
        if self.total is None:
            raise InputError("no frames", source)
        value = normalize(self.total)
        if len(self.blocks) < 2 and not self.auto:
            raise InputError(f"blocks of {self.block_frames} frames leave {len(self.blocks)} complete "
                             f"block(s) in {self.n_frames} frames; at least 2 are needed for errors "
                             "(use a smaller --block-frames)", source)
        if len(self.blocks) < 2:
            return value, {k: np.full_like(np.asarray(v, float), np.nan) for k, v in value.items()}
        per_block = [normalize(b) for b in self.blocks]
        with np.errstate(invalid="ignore"):  # e.g. F = -ln P = inf where a block has no sample
            err = {k: standard_error([np.asarray(p[k], float) for p in per_block]) for k in value}
        return value, err

    def error_growth(self, normalize, key):
        """Median ratio of the standard error of normalize(sums)[key] from blocks twice as long
        to the one from the current blocks: about 1 when blocks outlast the correlation time,
        clearly above 1 when they do not (errors then underestimated). NaN with < 8 blocks."""
        if len(self.blocks) < 8:
            return float("nan")

        def stderr(blocks):
            return standard_error([np.asarray(normalize(b)[key], float) for b in blocks])

        doubled = [{k: a[k] + b[k] for k in a} for a, b in zip(self.blocks[::2], self.blocks[1::2])]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = stderr(doubled) / stderr(self.blocks)
        ratio = ratio[np.isfinite(ratio)]
        return float(np.median(ratio)) if ratio.size else float("nan")
