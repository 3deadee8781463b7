"""Are two results of one type different beyond their statistical noise? (eqt-compare)

Two results A and B of the same `result_type` on the same grids (coordinates equal, units equal) are
compared point by point for every value X that has a standard error X_err in at least one of them:

    d = A - B,   s = sqrt(s_A² + s_B²),   t = d / s

An error from n blocks has n - 1 degrees of freedom: n per point from `X_blocks` or `error_blocks`
where the result records how many blocks are behind each error (the long lags of a curve, D of an
MSD: down to 2), else the result's `n_blocks`. The combined ν is Welch and Satterthwaite's,
ν = s⁴ / (s_A⁴/ν_A + s_B⁴/ν_B) (a result without block counts, or an exact value with no error,
counts as ν = ∞). Each point's two-sided p-value comes from Student's t with ν, and is reported as
its normal-equivalent score z = Φ⁻¹(1 - p/2) ("σ"). Points where a value is not finite or s = 0 with d = 0
are left out, as are points where both the difference and its error are rounding noise (below 1e-10 of the
largest |value|: the MSD at lag 0, say), and points whose error is zero on both sides and whose difference is
below 1e-6 of the largest |value| (the float32 rounding of a stored result: a density tail of 2e-9 against 0
was "an exact difference").

With m points compared, the verdict holds the family-wise false-alarm rate at the nominal two-sided rate
p_level of `level` σ (2σ: 4.55 %): the curves differ when the smallest p-value is below Šidák's per-point
threshold 1 - (1 - p_level)^(1/m), i.e. when the largest |z| exceeds the threshold z_m (3.68 for 200
points at 2σ). Šidák's inequality keeps the rate at most nominal for correlated Gaussian points (neighbouring
bins of a curve are correlated), so the test is conservative there. A value that re-expresses another's
points (attribute `same_points_as`: the drift per molecule, F = -ln P, the Yeh-Hummer D) is reported but
its points are counted once, with the value it re-expresses, when both are compared.
"""
import numpy as np
import xarray as xr
from scipy import stats

from . import results
from .errors import InputError

ERR = results.ERR


def nominal_rate(level):
    """Two-sided false-alarm probability of a `level`-σ threshold for one normal point (2 -> 0.0455)."""
    return float(2 * stats.norm.sf(level))


def family_threshold(level, m):
    """|z| above which one of m points makes the family of them differ at `level` σ overall (Šidák)."""
    per_point = -np.expm1(np.log1p(-nominal_rate(level)) / max(m, 1))
    return float(stats.norm.isf(per_point / 2))


def _dof(ds, name=None):
    """Degrees of freedom of the errors of ds[name] per point (blocks - 1; inf without block counts),
    or of the result as a whole (its n_blocks) without a name."""
    var = ds[name] if name is not None else None
    for counts in (f"{name}_blocks", "error_blocks"):
        if var is not None and counts in ds and set(ds[counts].dims) <= set(var.dims):
            n = ds[counts].broadcast_like(var).transpose(*var.dims).values.astype(float)
            return np.where(n > 1, n - 1, np.inf)
    n = ds.attrs.get("n_blocks")
    return float(n) - 1 if n is not None and float(n) > 1 else np.inf


STORED_DIGITS = 1e-6  # below this fraction of a curve's scale, exact (zero-error) values differ by rounding only
DEFINING = ("series", "normalization", "mass_weighted")  # attributes that say what a result measures


def _check_same_type(a, b, names):
    """InputError unless a and b are results of one type that measure the same thing."""
    ta, tb = a.attrs.get("result_type"), b.attrs.get("result_type")
    if ta is None or tb is None:
        raise InputError("not an eqt analysis result (no result_type attribute)", names[0 if ta is None else 1])
    if ta != tb:
        raise InputError(f"cannot compare results of two types (result_type {ta} and {tb})", names[1])
    for name in DEFINING:  # what was measured, beyond the type: the series of a tcf, the rdf's normalization
        if str(a.attrs.get(name)) != str(b.attrs.get(name)):
            raise InputError(f"{ta} results of different {name.replace('_', ' ')}: {a.attrs.get(name)!r} in one and "
                             f"{b.attrs.get(name)!r} in the other", names[1])


def _check_same_grids(a, b, dims, names):
    """InputError unless the coordinates along `dims` (the dimensions of the compared values) are equal
    in a and b, units included. Other grids may differ: the drift of runs of different lengths compares."""
    ta = a.attrs["result_type"]
    on_dims = [n for n in sorted(set(a.coords) | set(b.coords))
               if set((a[n] if n in a.coords else b[n]).dims) <= dims]
    for name in on_dims:
        if name not in a.coords or name not in b.coords:
            raise InputError(f"{ta} results with different grids: only one has coordinate {name!r}", names[1])
        ca, cb = a[name], b[name]
        if ca.attrs.get("units") != cb.attrs.get("units"):
            raise InputError(f"coordinate {name} is in {ca.attrs.get('units')!r} in one and "
                             f"{cb.attrs.get('units')!r} in the other", names[1])
        same = ca.shape == cb.shape and (np.array_equal(ca.values, cb.values) if ca.dtype.kind in "OUSb"
                                         else np.allclose(ca.values, cb.values, rtol=1e-9, atol=1e-12))
        if not same:
            raise InputError(f"{ta} results on different grids: coordinate {name} differs "
                             f"({_describe(ca)} against {_describe(cb)}); compute both with the same options",
                             names[1])


def _describe(coord):
    v = coord.values
    if v.size and v.dtype.kind in "fiu":
        return f"{v.size} points {v.min():g}..{v.max():g} {coord.attrs.get('units', '')}".rstrip()
    return f"{v.size} labels {', '.join(map(str, v[:4]))}{'...' if v.size > 4 else ''}"


def compared_variables(a, b, only=None):
    """Names of the values with a standard error in a or b (and the same dims in both); `only` restricts."""
    names = [n for n in a.data_vars if not n.endswith(ERR) and n in b.data_vars
             and (n + ERR in a or n + ERR in b) and a[n].dims == b[n].dims]
    if only:
        missing = [n for n in only if n not in names]
        if missing:
            raise InputError(f"no value with a standard error named {', '.join(missing)} in both results "
                             f"(comparable: {', '.join(names) or 'none'})")
        names = [n for n in names if n in only]
    return names


def compare(a, b, level=2.0, variables=None, names=("A", "B")):
    """A `comparison` result of a - b (xarray Datasets of one result type): for every compared value X,
    X_diff (± X_diff_err, X's units) and X_z (signed normal-equivalent score, see the module doc); attributes
    verdict (one line), differs (0/1), max_abs_z, threshold_z, n_points, level_sigma, location."""
    _check_same_type(a, b, names)
    chosen = compared_variables(a, b, variables)
    if not chosen:
        raise InputError(f"{a.attrs['result_type']} results hold no values with standard errors to compare",
                         names[0])
    dims = set().union(*(a[name].dims for name in chosen))
    _check_same_grids(a, b, dims, names)
    for name in chosen:
        for err in ("", ERR):
            if name + err in a and name + err in b and \
                    a[name + err].attrs.get("units") != b[name + err].attrs.get("units"):
                raise InputError(f"{name + err} is in {a[name + err].attrs.get('units')!r} in one and "
                                 f"{b[name + err].attrs.get('units')!r} in the other", names[1])
    nu_a, nu_b = _dof(a), _dof(b)
    out = xr.Dataset(coords={c: a[c] for c in a.coords if set(a[c].dims) <= dims})
    worst, n_points = None, 0
    for name in chosen:
        va, vb = a[name].values.astype(float), b[name].values.astype(float)
        ea = a[name + ERR].values.astype(float) if name + ERR in a else np.zeros_like(va)
        eb = b[name + ERR].values.astype(float) if name + ERR in b else np.zeros_like(vb)
        with np.errstate(invalid="ignore"):  # inf - inf (e.g. -ln P where no sample reached): left out below
            d = va - vb
        s = np.sqrt(ea ** 2 + eb ** 2)
        finite = np.concatenate([np.abs(va[np.isfinite(va)]), np.abs(vb[np.isfinite(vb)]), [0.0]])
        tiny = 1e-10 * finite.max()  # rounding noise of this value (e.g. the MSD at lag 0): numerically zero
        with np.errstate(divide="ignore", invalid="ignore"):
            nu = s ** 4 / (np.where(ea > 0, ea ** 4 / _dof(a, name), 0)
                           + np.where(eb > 0, eb ** 4 / _dof(b, name), 0))
            t = np.abs(d) / s
        used = (np.isfinite(va) & np.isfinite(vb) & np.isfinite(ea) & np.isfinite(eb)
                & ~((s <= tiny) & (np.abs(d) <= tiny))
                & ~((s == 0) & (np.abs(d) <= STORED_DIGITS * finite.max())))
        t = np.where(s == 0, np.inf, t)
        normal = ~np.isfinite(nu)  # exact errors on both sides, or no block counts: z is t itself
        p = 2 * stats.t.sf(t, np.where(normal, 1.0, nu))
        z = np.where(normal | (p < 1e-300), t, stats.norm.isf(np.maximum(p, 1e-300) / 2))  # beyond ~37σ: t
        z = np.sign(d) * np.where(used, z, np.nan)  # signed: A above B is positive
        dims, units, long = a[name].dims, a[name].attrs.get("units", "1"), a[name].attrs.get("long_name", name)
        out = out.assign(results.with_error(f"{name}_diff", dims, d, s, units, f"difference A - B of {long}"))
        out[f"{name}_z"] = results.variable(dims, z, "1", f"normal-equivalent score of the difference of {long} (signed as A - B)")
        if a[name].attrs.get(results.SAME_POINTS) not in chosen:  # another view of points already counted
            n_points += int(used.sum())
        if used.any():
            k = int(np.argmax(np.where(used, np.abs(z), -1.0)))
            if worst is None or abs(z.flat[k]) > worst[1]:
                worst = (name, float(abs(z.flat[k])), np.unravel_index(k, z.shape) if z.ndim else ())
    if n_points == 0:
        raise InputError("no point of the two results has a finite value and a non-zero error to compare", names[0])
    threshold = family_threshold(level, n_points)
    name, max_z, index = worst
    location = _location(a[name], index)
    differs = max_z > threshold
    verdict = (f"differs: {name}{location} by {_sigma(max_z)}" if differs
               else f"indistinguishable at {level:g}σ: largest deviation {name}{location} {_sigma(max_z)}")
    verdict += f" (threshold {threshold:.2f}σ for {n_points} point{'s' if n_points != 1 else ''} compared)"
    return results.finish(out, "comparison", compared_type=a.attrs["result_type"], verdict=verdict,
                          differs=int(differs), max_abs_z=max_z, threshold_z=threshold, n_points=n_points,
                          level_sigma=float(level), worst_variable=name, location=location.strip(" ,"),
                          variables=" ".join(chosen), dof_a=nu_a, dof_b=nu_b)


def _sigma(z):
    return "an exact difference (zero error)" if np.isinf(z) else f"{z:.1f}σ"


def _location(var, index):
    """' at pair = O-O, r = 2.8 Å' for the point `index` of `var`."""
    parts = []
    for dim, i in zip(var.dims, index):
        if dim in var.coords:
            c = var.coords[dim]
            value = c.values[i]
            units = c.attrs.get("units", "1")
            text = f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)
            parts.append(f"{dim} = {text}" + ("" if units == "1" else f" {units}"))
        else:
            parts.append(f"{dim} #{i}")
    return " at " + ", ".join(parts) if parts else ""


def summary(ds):
    """JSON-ready dict of a comparison result's verdict and numbers."""
    keys = ("compared_type", "verdict", "differs", "max_abs_z", "threshold_z", "n_points", "level_sigma",
            "worst_variable", "location", "variables")
    out = {k: ds.attrs[k] for k in keys}
    out["differs"] = bool(out["differs"])
    out["variables"] = out["variables"].split()
    for k in ("max_abs_z", "threshold_z", "level_sigma"):
        out[k] = float(out[k]) if np.isfinite(out[k]) else str(out[k])
    out["n_points"] = int(out["n_points"])
    return out
