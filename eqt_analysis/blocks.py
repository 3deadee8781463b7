"""Block statistics for streamed analyses: partial sums per block of frames.

An analysis adds one frame's partial sums at a time (a dict of float64 arrays that combine by
addition). `Blocks` keeps the running total and per-block totals:

- `block_frames=N`: blocks of N consecutive frames;
- `block_frames=None`: automatic for streams of unknown length; blocks start one frame long
  and adjacent pairs are merged whenever there are `max_blocks` of them, so memory stays
  bounded and between max_blocks/2 and max_blocks equal blocks remain.

A trailing incomplete block counts in the total but not in the error estimate. The standard
error of a normalized quantity q(sums) is std(q(block_b), ddof=1) / sqrt(n_blocks); it is
trustworthy only when blocks are longer than the correlation time, which `error_growth`
checks (Flyvbjerg-Petersen style: the error must not grow when blocks are doubled).
"""
import numpy as np

from .errors import InputError


class Blocks:
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
                             "(use a smaller --block)", source)
        if len(self.blocks) < 2:
            return value, {k: np.full_like(np.asarray(v, float), np.nan) for k, v in value.items()}
        per_block = [normalize(b) for b in self.blocks]
        with np.errstate(invalid="ignore"):  # e.g. F = -ln P = inf where a block has no sample
            err = {k: np.std([np.asarray(p[k], float) for p in per_block], axis=0, ddof=1) / np.sqrt(len(per_block))
                   for k in value}
        return value, err

    def error_growth(self, normalize, key):
        """Median ratio of the standard error of normalize(sums)[key] from blocks twice as long
        to the one from the current blocks: about 1 when blocks outlast the correlation time,
        clearly above 1 when they do not (errors then underestimated). NaN with < 8 blocks."""
        if len(self.blocks) < 8:
            return float("nan")

        def stderr(blocks):
            values = np.array([np.asarray(normalize(b)[key], float) for b in blocks])
            return np.std(values, axis=0, ddof=1) / np.sqrt(len(blocks))

        doubled = [{k: a[k] + b[k] for k in a} for a, b in zip(self.blocks[::2], self.blocks[1::2])]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = stderr(doubled) / stderr(self.blocks)
        ratio = ratio[np.isfinite(ratio)]
        return float(np.median(ratio)) if ratio.size else float("nan")
