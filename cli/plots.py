"""One home for eqt's figures: a drawing function per result type, used by eqt-plot and by the
--plot option of every analysis command.

`draw(datasets, labels, path)` draws one or several results of one `result_type`
(docs/results.md) overlaid, or eqt MD trajectories (no result_type: conserved-energy drift and
temperature), and saves the figure as PNG, PDF or SVG (from the suffix of `path`, or `fmt`).
`draw_<type>(fig, datasets, labels)` adds its panels to an empty matplotlib figure; `labels`
name the inputs in the legends (None: a single result, the legend names only its curves).
Axis labels carry the units of the variables (their `units` attributes); error bands come
from `X_err` where the result has one.

matplotlib is imported only inside functions (through cli.common.figure): importing this
module costs nothing to the commands that do not draw.
"""
import os
import re

import numpy as np

from eqt_analysis import results
from eqt_analysis.errors import InputError

FORMATS = ("png", "pdf", "svg")
TRAJECTORY = "trajectory"  # the pseudo result type of an eqt MD trajectory
TRAINING = "training"  # the pseudo result type of a model's learning curve (eqt-plot MODEL.pkl)
BAND_ALPHA = 0.25
LINESTYLES = ("-", "--", ":", "-.")

_WORDS = {"angstrom": "Å", "picosecond": "ps", "femtosecond": "fs", "electronvolt": "eV", "kelvin": "K",
          "radian": "rad", "amu": "amu", "meV": "meV", "THz": "THz", "cm": "cm", "kT": "kT"}
_POWERS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def pretty_units(units):
    """A `units` attribute written for a reader: 'angstrom^2/picosecond' -> 'Å²/ps',
    '(electronvolt)^2 cm' -> 'eV² cm'; '' for dimensionless ('1' or absent)."""
    units = str(units or "").strip()
    if units in ("", "1"):
        return ""
    units = re.sub(r"\(([^()]+)\)\^", r"\1^", units)
    units = re.sub(r"[A-Za-z]+", lambda m: _WORDS.get(m.group(0), m.group(0)), units)
    units = re.sub(r"\^(-?\d+)", lambda m: m.group(1).translate(_POWERS), units)
    return units.replace("*", " ")


def axis_label(text, var=None, units=None):
    """`text (units)`, the units from `units` or from the variable's attribute; `text` alone
    when dimensionless."""
    shown = pretty_units(units if units is not None else var.attrs.get("units") if var is not None else "")
    return f"{text} ({shown})" if shown else text


def suffix_format(path):
    """'png', 'pdf' or 'svg' from the suffix of `path` ('-', standard output: png); InputError
    for any other suffix."""
    if path == "-":
        return "png"
    ext = os.path.splitext(str(path))[1].lower().lstrip(".")
    if ext not in FORMATS:
        raise InputError(f"cannot tell the figure format from the suffix {'.' + ext if ext else '(none)'}; "
                         "use .png, .pdf or .svg", path)
    return ext


def result_type(ds):
    """The result type of a Dataset: its `result_type`, 'training' for a model's learning curve, or
    'trajectory' for an eqt trajectory."""
    return ds.attrs.get("result_type") or ds.attrs.get("plot_kind", TRAJECTORY)


# --- helpers -----------------------------------------------------------------------------------

def _legend_name(label, series):
    """The legend entry of curve `series` of input `label` (None: a single input)."""
    parts = [p for p in (label, series) if p not in (None, "")]
    return ": ".join(str(p) for p in parts) if parts else None


def _colour(k):
    return f"C{k % 10}"


def _band(ax, x, y, err, colour):
    """A shaded ±err band around y (NaN errors leave gaps)."""
    if err is not None:
        err = np.asarray(err, float)
        if np.isfinite(err).any():
            ax.fill_between(x, y - err, y + err, color=colour, alpha=BAND_ALPHA, lw=0)


def _err(ds, name):
    return ds[name + "_err"] if name + "_err" in ds else None


def _values(da):
    return None if da is None else np.asarray(da.values, float)


def _legend(ax, above=False, **kwargs):
    """The legend of ax, if it has entries; `above`: in a row above the panel (for noisy time
    series that fill the panel)."""
    handles, names = ax.get_legend_handles_labels()
    if handles:
        if above:
            wide = max(len(name) for name in names) > 30  # two such entries side by side overrun the panel
            kwargs.update(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=1 if wide else min(len(handles), 2),
                          borderaxespad=0.2)
        ax.legend(fontsize="small", frameon=False, **kwargs)


def _spans_decades(arrays, decades=2.0):
    """True when the values of `arrays` are positive (up to 2 % of them) and span more than
    `decades` decades: then a log scale shows them best."""
    values = np.concatenate([np.ravel(a) for a in arrays])
    values = values[np.isfinite(values)]
    positive = values[values > 0]
    return (positive.size > 1 and positive.size >= 0.98 * values.size
            and np.log10(positive.max() / np.percentile(positive, 5)) > decades)


def _log_y(ax, arrays, floor_decades=7.0):
    """Log y scale for non-negative spectra; the lower limit `floor_decades` below the peak so
    that numerical noise does not squash the curves."""
    values = np.concatenate([np.ravel(a) for a in arrays])
    values = values[np.isfinite(values) & (values > 0)]
    ax.set_yscale("log")
    if values.size:
        ax.set_ylim(max(values.min(), values.max() * 10 ** -floor_decades), values.max() * 2)


def _positive(y):
    """y with non-positive values as NaN (for a log axis)."""
    y = np.asarray(y, float)
    return np.where(y > 0, y, np.nan)


def _combinations(datasets, labels, series_of):
    """[(k, ds, label, series)] over the inputs and each input's curves, with one colour index k
    per combination (so a colour means the same curve in every panel)."""
    out = []
    for ds, label in zip(datasets, labels):
        for series in series_of(ds):
            out.append((len(out), ds, label, series))
    return out


def _size(fig, width, height):
    fig.set_size_inches(width, height)


# --- result types --------------------------------------------------------------------------------

def draw_rdf(fig, datasets, labels):
    """g(r) of every pair (g_inter, the intermolecular part, where the result has it) and, when
    present, the dipole pair correlations c_L (solid), c_T (dashed) in a second panel."""
    has_c = any("c_L" in ds for ds in datasets)
    _size(fig, 10 if has_c else 5.8, 4)
    axes = fig.subplots(1, 2 if has_c else 1, squeeze=False)[0]
    curves = _combinations(datasets, labels, lambda ds: [str(p) for p in ds["pair"].values])
    inter = []
    for k, ds, label, pair in curves:
        key = "g_inter" if "g_inter" in ds else "g"
        inter.append(key == "g_inter" or bool(ds.attrs.get("exclude_intramolecular", 0)))
        r = _values(ds["r"])
        g = _values(ds[key].sel(pair=pair))
        axes[0].plot(r, g, color=_colour(k), lw=1.3, label=_legend_name(label, pair))
        _band(axes[0], r, g, _values(_err(ds, key).sel(pair=pair)) if _err(ds, key) is not None else None,
              _colour(k))
        if has_c and "c_L" in ds:
            intra = (ds["g"] - ds[key]).sel(pair=pair).values > 1e-12  # bins of bonded pairs left out
            for name, style in (("c_L", "-"), ("c_T", "--")):
                c = np.where(intra, np.nan, _values(ds[name].sel(pair=pair)))
                axes[1].plot(r, c, style, color=_colour(k), lw=1.2,
                             label=_legend_name(label, pair) if name == "c_L" else None)
                err = _err(ds, name)
                _band(axes[1], r, c, None if err is None else np.where(intra, np.nan, _values(err.sel(pair=pair))),
                      _colour(k))
    ds0 = datasets[0]
    runit = ds0["r"].attrs.get("units")
    title = "intermolecular pairs" if all(inter) else "all pairs"
    estimator = ds0.attrs.get("estimator")
    axes[0].set(xlabel=axis_label("r", units=runit), ylabel=axis_label("g(r)", ds0["g"]),
                title=f"{title} ({estimator})" if estimator else title)
    axes[0].axhline(1.0, color="grey", lw=0.6, zorder=0)
    axes[0].set_xlim(left=0)
    axes[0].set_ylim(bottom=0)
    _legend(axes[0])
    if has_c:
        axes[1].set(xlabel=axis_label("r", units=runit), ylabel=axis_label("c(r)", ds0.get("c_L")),
                    title="dipole pair correlations: c_L solid, c_T dashed")
        axes[1].axhline(0.0, color="grey", lw=0.6, zorder=0)
        axes[1].set_xlim(left=0)
        _legend(axes[1])


def _phi_ticks(ax):
    ax.set_xticks(np.pi * np.array([-1, -0.5, 0, 0.5, 1]), ["−π", "−π/2", "0", "π/2", "π"])


def _map(ax, fig, ds, values, limit, cmap, colour_label):
    masked = np.ma.masked_invalid(values)
    import matplotlib

    palette = matplotlib.colormaps[cmap].with_extremes(bad="0.75")  # no sample reached (F = inf): grey
    mesh = ax.pcolormesh(_values(ds["phi"]), _values(ds["cos_theta"]), masked, cmap=palette,
                         vmin=-limit, vmax=limit, shading="nearest", rasterized=True)
    ax.set(xlabel=axis_label("φ", ds["phi"]), ylabel="cos θ", xlim=(-np.pi, np.pi), ylim=(-1, 1))
    _phi_ticks(ax)
    return mesh


def draw_orient(fig, datasets, labels):
    """F = −ln P(cos θ, φ) maps on one diverging colour scale (0 = isotropic), one panel per
    input; for two inputs on the same grid also their difference F_2 − F_1."""
    finite = [np.abs(_values(ds["F"]))[np.isfinite(_values(ds["F"]))] for ds in datasets]
    limit = max([0.05] + [float(f.max()) for f in finite if f.size])
    diff = (len(datasets) == 2 and datasets[0]["F"].shape == datasets[1]["F"].shape
            and np.allclose(datasets[0]["cos_theta"], datasets[1]["cos_theta"])
            and np.allclose(datasets[0]["phi"], datasets[1]["phi"]))
    n = len(datasets) + diff
    _size(fig, 4.6 * n + 0.9, 3.6)
    axes = fig.subplots(1, n, squeeze=False, sharey=True)[0]
    units = datasets[0]["F"].attrs.get("units")
    for ax, ds, label in zip(axes, datasets, labels):
        mesh = _map(ax, fig, ds, _values(ds["F"]), limit, "RdBu_r", None)
        verdict = ""
        if "chi2" in ds and "p_value" in ds:
            verdict = f"χ²/dof = {float(ds['chi2']):.4g}/{ds.attrs.get('dof', '?')}, p = {float(ds['p_value']):.2g}"
        ax.set_title("\n".join(t for t in (label, verdict) if t), fontsize="medium")
    fig.colorbar(mesh, ax=axes[:len(datasets)], label=axis_label("F = −ln P", units=units), shrink=0.9)
    for ax in axes[1:]:
        ax.set_ylabel("")
    if diff:
        with np.errstate(invalid="ignore"):  # inf - inf where neither sampled: NaN, drawn grey
            delta = _values(datasets[1]["F"]) - _values(datasets[0]["F"])
        finite = np.abs(delta[np.isfinite(delta)])
        dlim = max(0.05, float(finite.max()) if finite.size else 0.05)
        mesh = _map(axes[-1], fig, datasets[0], delta, dlim, "PuOr_r", None)
        axes[-1].set_ylabel("")
        axes[-1].set_title(f"difference\n{labels[1]} − {labels[0]}", fontsize="medium")
        fig.colorbar(mesh, ax=axes[-1], label=axis_label("ΔF", units=units), shrink=0.9)


def draw_angles(fig, datasets, labels):
    """Histograms of cos θ and φ of the per-molecule dipole angles; an isotropic sample is flat
    (the dotted lines)."""
    _size(fig, 9, 3.6)
    axes = fig.subplots(1, 2)
    for k, (ds, label) in enumerate(zip(datasets, labels)):
        for ax, name, lo, hi in ((axes[0], "cos_theta", -1, 1), (axes[1], "phi", -np.pi, np.pi)):
            values = _values(ds[name]).ravel()
            ax.hist(values[np.isfinite(values)], bins=40, range=(lo, hi), density=True, histtype="step",
                    color=_colour(k), lw=1.3, label=label)
    axes[0].axhline(0.5, color="grey", ls=":", lw=1, label="isotropic")
    axes[1].axhline(1 / (2 * np.pi), color="grey", ls=":", lw=1, label="isotropic")
    axes[0].set(xlabel="cos θ", ylabel="probability density", xlim=(-1, 1))
    axes[1].set(xlabel=axis_label("φ", datasets[0]["phi"]), ylabel=axis_label("probability density", units="1/radian"),
                xlim=(-np.pi, np.pi))
    _phi_ticks(axes[1])
    for ax in axes:
        ax.set_ylim(bottom=0)
        _legend(ax, loc="lower center")
    n = sum(int(ds.attrs.get("n_frames", 0)) * int(ds.attrs.get("n_molecules", 0)) for ds in datasets)
    fig.suptitle(f"dipole directions of the waters ({n} samples)", fontsize="medium")


def _per_group(fig, datasets, labels, dim, value, ylabel, legend, extra=None):
    """Curves value(dim, lag_time) with error bands, one per input and label of `dim`."""
    _size(fig, 5.8, 4)
    ax = fig.subplots()
    for k, ds, label, g in _combinations(datasets, labels, lambda ds: list(ds[dim].values)):
        r = ds.sel({dim: g})
        t, y = _values(ds["lag_time"]), _values(r[value])
        ax.plot(t, y, color=_colour(k), lw=1.3, label=_legend_name(label, legend(r, g)))
        _band(ax, t, y, _values(_err(r, value)), _colour(k))
        if extra:
            extra(ax, r, k, len(datasets))
    ds0 = datasets[0]
    ax.set(xlabel=axis_label("lag time", ds0["lag_time"]), ylabel=axis_label(ylabel, ds0[value]))
    ax.set_xlim(left=0)
    return ax


def draw_msd(fig, datasets, labels):
    """MSD(t) of every group with error bands, D in the legend; for a single result the fit
    windows shaded."""
    from eqt_analysis.diffusion import ANGSTROM2_PER_PS_IN_1E5_CM2_PER_S as CGS

    def legend(r, g):
        return f"{g}, D = {float(r['D']) * CGS:.3g} ± {float(r['D_err']) * CGS:.2g} × 10⁻⁵ cm²/s"

    spans = set()

    def window(ax, r, k, n):
        span = (float(r["fit_start"]), float(r["fit_stop"]))
        if n == 1 and span not in spans:
            spans.add(span)
            ax.axvspan(*span, color="grey", alpha=0.12, lw=0)

    ax = _per_group(fig, datasets, labels, "group", "msd", "MSD", legend, window)
    ax.set_ylim(bottom=0)
    _legend(ax, loc="upper left")
    if len(datasets) == 1:
        ax.set_title("grey: fit window of D", fontsize="medium")


def draw_rotcorr(fig, datasets, labels):
    """Dipole-axis correlations C_l(t) with error bands, the relaxation times in the legend."""
    def legend(r, order):
        bound = "≥ " if int(r["tau_lower_bound"]) else ""
        return f"C{str(int(order)).translate(str.maketrans('0123456789', '₀₁₂₃₄₅₆₇₈₉'))}, τ {bound or '= '}" \
               f"{float(r['tau']):.3g} ps"

    ax = _per_group(fig, datasets, labels, "order", "C", "C(t)", legend)
    ax.axhline(0, color="grey", lw=0.6, zorder=0)
    _legend(ax, loc="upper right")


def _spectrum_panel(ax, curves, xlabel, ylabel, log=None):
    """Spectra [(x, y, colour, name[, error])] on ax (error bands where a spectrum has errors: --max-lag),
    log y where they span decades."""
    for x, y, colour, name, *err in curves:
        ax.plot(x, y, color=colour, lw=1.1, label=name)
        _band(ax, x, y, err[0] if err else None, colour)
    ys = [curve[1] for curve in curves]
    if log if log is not None else _spans_decades(ys):
        for line in ax.get_lines():
            line.set_ydata(_positive(line.get_ydata()))
        _log_y(ax, ys)
    else:
        ax.axhline(0, color="grey", lw=0.6, zorder=0)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.set_xlim(0, max(float(np.nanmax(curve[0])) for curve in curves))


def draw_vdos(fig, datasets, labels):
    """Velocity autocorrelation (with error bands) and vibrational density of states against
    wavenumber (cm⁻¹; log scale where it spans decades), one curve per species and input."""
    _size(fig, 10, 4)
    a, b = fig.subplots(1, 2)
    curves = _combinations(datasets, labels, lambda ds: [str(s) for s in ds["species"].values])
    spectra = []
    for k, ds, label, species in curves:
        t, y = _values(ds["lag_time"]), _values(ds["vacf"].sel(species=species))
        a.plot(t, y, color=_colour(k), lw=1.2, label=_legend_name(label, species))
        err = _err(ds, "vacf")
        _band(a, t, y, None if err is None else _values(err.sel(species=species)), _colour(k))
        spec_err = _err(ds, "vdos")
        spec_err = None if spec_err is None else _values(spec_err.sel(species=species))
        spectra.append((_values(ds["frequency"]), _values(ds["vdos"].sel(species=species)), _colour(k),
                        _legend_name(label, species), spec_err))
    ds0 = datasets[0]
    a.axhline(0, color="grey", lw=0.6, zorder=0)
    a.set(xlabel=axis_label("lag time", ds0["lag_time"]), ylabel=axis_label("VACF", ds0["vacf"]))
    a.set_xlim(0, min(1.0, float(ds0["lag_time"].max())))
    _spectrum_panel(b, spectra, axis_label("wavenumber", ds0["frequency"]), axis_label("VDOS", ds0["vdos"]))
    _legend(b)
    weighted = " (mass-weighted)" if int(ds0.attrs.get("mass_weighted", 0)) else ""
    fig.suptitle(f"velocity autocorrelation and density of states{weighted}", fontsize="medium")


def draw_tcf(fig, datasets, labels):
    """Autocorrelation of the series (with error bands) and its power spectrum against
    wavenumber (cm⁻¹; log scale where it spans decades)."""
    _size(fig, 10, 4)
    a, b = fig.subplots(1, 2)
    spectra = []
    for k, (ds, label) in enumerate(zip(datasets, labels)):
        t, y = _values(ds["lag_time"]), _values(ds["acf"])
        name = label if len(datasets) > 1 else None
        a.plot(t, y, color=_colour(k), lw=1.2, label=name)
        _band(a, t, y, _values(_err(ds, "acf")), _colour(k))
        f, s = _values(ds["frequency"]), _values(ds["spectrum"])
        spec_err = _err(ds, "spectrum")
        spectra.append((f[1:], s[1:], _colour(k), name,  # the zero-frequency bin holds the mean's leftovers
                        None if spec_err is None else _values(spec_err)[1:]))
    ds0 = datasets[0]
    series = sorted({str(ds.attrs.get("series", "")) for ds in datasets})
    a.axhline(0, color="grey", lw=0.6, zorder=0)
    a.set(xlabel=axis_label("lag time", ds0["lag_time"]), ylabel=axis_label("autocorrelation", ds0["acf"]))
    a.set_xlim(left=0)
    _spectrum_panel(b, spectra, axis_label("wavenumber", ds0["frequency"]),
                    axis_label("power spectrum", ds0["spectrum"]))
    _legend(a)
    fig.suptitle(f"autocorrelation and power spectrum of {', '.join(series)}", fontsize="medium")


def _time_panels(fig, datasets, labels, keys, curve, height):
    """Stacked panels, one per key, on a shared time axis: curve(ds, key) -> (y, legend text or None) for
    every dataset that holds key. Returns the axes."""
    _size(fig, 6.5, 1.2 + height * len(keys))
    axes = fig.subplots(len(keys), 1, sharex=True, squeeze=False)[:, 0]
    for k, (ds, label) in enumerate(zip(datasets, labels)):
        for ax, key in zip(axes, keys):
            if key in ds:
                y, text = curve(ds, key)
                ax.plot(_values(ds["time"]), y, color=_colour(k), lw=1, label=_legend_name(label, text))
    axes[-1].set_xlabel(axis_label("time", datasets[0]["time"]))
    axes[-1].set_xlim(left=float(min(ds["time"].min() for ds in datasets)),
                      right=float(max(ds["time"].max() for ds in datasets)))
    return axes


def draw_angmom(fig, datasets, labels):
    """|L|(t), |τ|(t) and the conserved energy E(t) − E(0) per molecule, whichever the results
    hold, with their drifts (and the mean |τ|) in the legends."""
    keys = [k for k in ("L_norm", "tau_norm", "conserved_energy") if any(k in ds for ds in datasets)]

    def curve(ds, key):
        y = _values(ds[key])
        if key == "conserved_energy":
            text = (f"drift {1e3 * float(ds['energy_drift_per_molecule']):.3g} ± "
                    f"{1e3 * float(ds['energy_drift_per_molecule_err']):.2g} meV/molecule/ps"
                    if "energy_drift_per_molecule" in ds else None)
            return (y - y[0]) * 1e3 / max(1, int(ds.attrs.get("n_molecules", 1))), text
        if key == "L_norm" and "L_norm_drift" in ds:
            return y, (f"drift {float(ds['L_norm_drift']):.3g} ± {float(ds['L_norm_drift_err']):.2g} "
                       f"{pretty_units(ds['L_norm_drift'].attrs.get('units'))}")
        if key == "tau_norm" and "mean_abs_torque" in ds:
            err = f" ± {float(ds['mean_abs_torque_err']):.2g}" if "mean_abs_torque_err" in ds else ""
            return y, (f"mean {float(ds['mean_abs_torque']):.3g}{err} "
                       f"{pretty_units(ds['mean_abs_torque'].attrs['units'])}")
        return y, None
    axes = _time_panels(fig, datasets, labels, keys, curve, 2.2)
    names = {"L_norm": "|L|", "tau_norm": "|τ|"}
    for ax, key in zip(axes, keys):
        var = next(ds[key] for ds in datasets if key in ds)
        if key == "conserved_energy":
            ax.set_ylabel("E_cons − E_cons(0)\n(meV/molecule)")
            ax.axhline(0, color="grey", lw=0.6, zorder=0)
        else:
            ax.set_ylabel(axis_label(names[key], var))
            if _spans_decades([_values(ds[key]) for ds in datasets if key in ds], 3):
                ax.set_yscale("log")
        _legend(ax, above=True)


def draw_trajectory(fig, datasets, labels):
    """An eqt MD trajectory: drift of the conserved energy, E(t) − E(0) in meV/atom, and the
    temperature against time."""
    keys = [k for k in ("conserved_energy", "temperature") if any(k in ds for ds in datasets)]

    def curve(ds, key):
        y = _values(ds[key])
        if key == "temperature":
            return y, f"mean {np.mean(y):.1f} K"
        y = (y - y[0]) * 1e3 / int(ds.attrs["n_atoms"])
        t = _values(ds["time"])
        return y, f"slope {np.polyfit(t, y, 1)[0] if len(t) > 2 else np.nan:.3g} meV/atom/ps"
    axes = _time_panels(fig, datasets, labels, keys, curve, 2.3)
    for ax, key in zip(axes, keys):
        if key == "conserved_energy":
            ax.set_ylabel("E_cons − E_cons(0)\n(meV/atom)")
            ax.axhline(0, color="grey", lw=0.6, zorder=0)
        else:
            ax.set_ylabel(axis_label("temperature", next(ds[key] for ds in datasets if key in ds)))
        _legend(ax, above=True)


def draw_training(fig, datasets, labels):
    """Learning curves: the validation errors of each model against the epoch (log scale), its held-out
    test error as a star at its last epoch; the legend (top panel) gives each model's best validation
    and its held-out force error."""
    keys = [k for k in ("forces_mae", "energy_per_atom_mae", "rot_std_forces") if any(k in ds for ds in datasets)]
    _size(fig, 6.5, 1.4 + 2.0 * len(keys))
    axes = fig.subplots(len(keys), 1, sharex=True, squeeze=False)[:, 0]
    for k, (ds, label) in enumerate(zip(datasets, labels)):
        epoch = _values(ds["epoch"])
        for ax, key in zip(axes, keys):
            if key not in ds:
                continue
            y = _positive(_values(ds[key]))
            test = ds.attrs.get("test_" + key)
            text = None
            if ax is axes[0]:
                text = f"best {np.nanmin(y):.3g}" if np.isfinite(y).any() else "no finite values"
                text += f", held-out {test:.3g}" if test is not None else ""
            ax.plot(epoch, y, color=_colour(k), lw=1, label=_legend_name(label, text) if text else None)
            if test is not None:
                ax.plot([epoch[-1]], [test], marker="*", ms=10, color=_colour(k), ls="none")
    short = {"forces_mae": "force MAE", "energy_per_atom_mae": "energy MAE", "rot_std_forces": "force spread\nover rotations"}
    for ax, key in zip(axes, keys):
        da = next(ds[key] for ds in datasets if key in ds)
        ax.set_ylabel(axis_label(short[key], da))
        ax.set_yscale("log")
    _legend(axes[0], above=True)
    axes[-1].set_xlabel("epoch (all training stages)")
    fig.suptitle("validation errors per epoch (★ held-out test set)", fontsize="medium")


def _rotations(name):
    """Number of rotations of averaging grid `name` (None when eqt does not know the name)."""
    from eqt_model import rotations

    try:
        return len(rotations.grid(str(name)))
    except Exception:  # a grid name eqt cannot build: placed by its order instead
        return None


def draw_rotvar(fig, datasets, labels):
    """Log-log convergence of the rotational error |X_grid − X_finest| against the number of
    rotations of the grid (the finest grid, the reference, is left out), energy per atom and,
    where present, forces per element; the plain model's test error as a dotted line."""
    forces = any("forces_error" in ds for ds in datasets)
    torque = any("torque" in ds for ds in datasets)
    panels = 1 + forces + torque
    _size(fig, 4.6 * panels + 1.2, 4)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    if torque:
        _draw_torque(axes[-1], datasets, labels)
    per_atom = all(float(ds.attrs.get("n_atoms", 1)) > 1 for ds in datasets)
    key = "energy_error_per_atom" if per_atom else "energy_error"
    refs = set()
    for k, (ds, label) in enumerate(zip(datasets, labels)):
        names = [str(g) for g in ds["grid"].values]
        n = [_rotations(g) for g in names]
        x = np.array([m if m is not None else np.nan for m in n], float)
        if np.isnan(x).any():
            x = np.arange(1, len(names) + 1, dtype=float)
        keep = np.array([g != str(ds.attrs.get("finest", names[-1])) for g in names])
        refs.add(f"{ds.attrs.get('finest', names[-1])}")
        curves = [(axes[0], _values(ds[key]), _values(_err(ds, key)), label, "o-")]
        if forces and "forces_error" in ds:
            for j, s in enumerate(ds["species"].values):
                curves.append((axes[1], _values(ds["forces_error"].sel(species=s)), None,
                               _legend_name(label, str(s)), ("o-", "s--", "^:", "d-.")[j % 4]))
        for ax, y, err, name, style in curves:
            y = _positive(np.where(keep, y, np.nan))
            ax.errorbar(x[keep], y[keep], yerr=None if err is None else err[keep], fmt=style, ms=4, lw=1.2,
                        capsize=2, color=_colour(k), label=name)
            if ax is axes[0] or style == "o-":
                for xi, yi, g in zip(x[keep], y[keep], np.array(names)[keep]):
                    if np.isfinite(yi):
                        ax.annotate(g, (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize="x-small",
                                    color=_colour(k))
        tests = (("test_energy_mae", axes[0], (1 / float(ds.attrs.get("n_atoms", 1))) if per_atom else 1.0),
                 ("test_forces_mae", axes[1] if forces else None, 1.0))
        for name, ax, scale in tests:
            if ax is not None and name in ds:
                ax.axhline(float(ds[name].values[0]) * scale, color=_colour(k), ls=":", lw=1,
                           label=_legend_name(label, f"test MAE, grid {names[0]}"))
    ds0 = datasets[0]
    unit = ds0[key].attrs.get("units")
    axes[0].set(xscale="log", yscale="log", xlabel="rotations in the grid",
                ylabel=axis_label("|E − E_finest|" + (" per atom" if per_atom else ""), units=unit),
                title=f"energy (reference: grid {', '.join(sorted(refs))})")
    if forces:
        fvar = next(ds["forces_error"] for ds in datasets if "forces_error" in ds)
        axes[1].set(xscale="log", yscale="log", xlabel="rotations in the grid",
                    ylabel=axis_label("|F − F_finest|", fvar), title="forces, per element")
    for ax in axes:
        ax.margins(x=0.15)
        _legend(ax)


def _draw_torque(ax, datasets, labels):
    """Mean net torque |Σ r × F| of each grid's forces on isolated structures against the grid's rotations
    (every grid: the torque is not relative to the finest one)."""
    for k, (ds, label) in enumerate(zip(datasets, labels)):
        if "torque" not in ds:
            continue
        names = [str(g) for g in ds["grid"].values]
        x = np.array([_rotations(g) or np.nan for g in names], float)
        if np.isnan(x).any():
            x = np.arange(1, len(names) + 1, dtype=float)
        y = _positive(_values(ds["torque"]))
        ax.errorbar(x, y, yerr=_values(_err(ds, "torque")), fmt="o-", ms=4, lw=1.2, capsize=2, color=_colour(k),
                    label=label)
        for xi, yi, g in zip(x, y, names):
            if np.isfinite(yi):
                ax.annotate(g, (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize="x-small",
                            color=_colour(k))
    unit = next(ds["torque"] for ds in datasets if "torque" in ds)
    ax.set(xscale="log", yscale="log", xlabel="rotations in the grid", ylabel=axis_label("mean |τ|", unit),
           title="net torque on isolated structures")


def draw_eval(fig, datasets, labels):
    """The error table of eqt-eval as bars: MAE (bars) and RMSE (diamonds) of the energy per
    structure, of the energy per atom (meV) and of the force components over all atoms and
    per element (meV/Å), one colour per input."""
    _size(fig, 10, 4)
    axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 3]})
    width = 0.8 / len(datasets)
    species = []
    for ds in datasets:
        species += [str(s) for s in ds["species"].values if str(s) not in species]
    for k, (ds, label) in enumerate(zip(datasets, labels)):
        name = label or ds.attrs.get("mode")
        offset = (k - (len(datasets) - 1) / 2) * width
        forces = [(ds["forces_mae"].sel(species=s), ds["forces_rmse"].sel(species=s)) if s in ds["species"] else
                  (np.nan, np.nan) for s in species]
        panels = [[(ds["energy_mae"], ds["energy_rmse"])],
                  [(ds["energy_per_atom_mae"], ds["energy_per_atom_rmse"])], forces]
        for ax, rows in zip(axes, panels):
            x = np.arange(len(rows)) + offset
            ax.bar(x, [float(m) for m, _ in rows], width * 0.9, color=_colour(k),
                   label=f"{name}: MAE" if name else "MAE")
            ax.plot(x, [float(r) for _, r in rows], "D", color="k", mfc=_colour(k), ms=5, ls="none")
    axes[2].plot([], [], "D", color="k", mfc="white", ms=5, ls="none", label="RMSE")
    ds0 = datasets[0]
    axes[0].set(ylabel=axis_label("energy error", ds0["energy_mae"]), title="energy per structure")
    axes[1].set(ylabel=axis_label("energy error", units=f"{ds0['energy_per_atom_mae'].attrs.get('units', '')}/atom"),
                title="energy per atom")
    axes[2].set(ylabel=axis_label("force error", ds0["forces_mae"]), title="force components")
    axes[2].set_xticks(range(len(species)), ["all atoms" if s == "total" else s for s in species])
    for ax in axes[:2]:
        ax.set_xticks([])
        ax.set_xlim(-0.6, 0.6)
    for ax in axes:
        tops = [p.get_height() for p in ax.patches] + [y for line in ax.get_lines() for y in line.get_ydata()]
        top = np.nanmax(np.asarray(tops, float)) if np.isfinite(np.asarray(tops, float)).any() else 1.0
        ax.set_ylim(0, 1.3 * top if top > 0 else 1.0)
    _legend(axes[2], loc="upper right", ncol=min(3, len(datasets) + 1))
    n = ", ".join(sorted({str(int(ds.attrs.get("n_structures", ds.sizes.get("structure", 0)))) for ds in datasets}))
    fig.suptitle(f"model errors on {n} labelled structures", fontsize="medium")


def draw_opt(fig, datasets, labels):
    """Relaxations: energy per molecule relative to the lowest structure, before (open) and
    after (filled) relaxation, per structure and model. With several models (eqt-opt --compare,
    or several inputs): the relaxed relative energies minus the first model's, and the RMS
    distance between the relaxed structures when the result holds it; with one model: the
    largest force after relaxation."""
    curves = _combinations(datasets, labels, lambda ds: [str(m) for m in ds["model"].values])
    ds0 = datasets[0]
    compared = len(curves) > 1
    distances = compared and "rms_position_difference" in ds0
    _size(fig, 15 if distances else 10, 4)
    axes = fig.subplots(1, 3 if distances else 2)
    a, b = axes[0], axes[1]
    first = curves[0][1].sel(model=curves[0][3])
    for k, ds, label, model in curves:
        r = ds.sel(model=model)
        x = _values(ds["structure"])
        name = _legend_name(label, model)
        size = 7 if k == 0 else 4  # later models drawn smaller, on top: equal values stay visible
        a.plot(x, _values(r["relative_energy"]), "o-", color=_colour(k), ms=size, label=f"{name} relaxed")
        a.plot(x, _values(r["relative_energy_initial"]), "o--", color=_colour(k), mfc="none", ms=size, lw=0.8,
               label=f"{name} start")
        if not compared:
            b.semilogy(x, _values(r["max_force"]), "o", color=_colour(k), ms=5, label=name)
        elif k > 0 and r.sizes["structure"] == first.sizes["structure"]:
            b.plot(x, _values(r["relative_energy"]) - _values(first["relative_energy"]), "o-", color=_colour(k),
                   ms=5, label=f"{name} − {_legend_name(curves[0][2], curves[0][3])}")  # both relative to their lowest
    a.set(xlabel="structure", ylabel=axis_label("energy per molecule − lowest", ds0["relative_energy"]))
    if compared:
        b.axhline(0.0, color="grey", lw=0.8)
        first_name = _legend_name(curves[0][2], curves[0][3])
        b.set(xlabel="structure", ylabel=axis_label(f"Δ relaxed relative energy per molecule vs {first_name}",
                                                    ds0["relative_energy"]))
    else:
        b.set(xlabel="structure", ylabel=axis_label("largest force after relaxation", ds0["max_force"]))
        if "fmax" in ds0.attrs:
            b.axhline(float(ds0.attrs["fmax"]), color="grey", ls=":", lw=1, label="fmax")
    if distances:
        d = ds0["rms_position_difference"]
        for k, model in enumerate(d["compared"].values):
            axes[2].plot(_values(ds0["structure"]), _values(d.sel(compared=model)), "o", color=_colour(k + 1), ms=5,
                         label=f"{model} − {ds0['model'].values[0]}")
        axes[2].set_ylim(0, None)
        axes[2].set(xlabel="structure", ylabel=axis_label("RMS distance of the relaxed structures", d))
    for ax in axes:
        ax.set_xticks(_values(ds0["structure"]))
        _legend(ax)


DRAWERS = {"rdf": draw_rdf, "orient": draw_orient, "angles": draw_angles, "msd": draw_msd, "rotcorr": draw_rotcorr,
           "vdos": draw_vdos, "tcf": draw_tcf, "angmom": draw_angmom, "rotvar": draw_rotvar, "eval": draw_eval,
           "opt": draw_opt, TRAJECTORY: draw_trajectory, TRAINING: draw_training}


def check_drawable(datasets, names):
    """InputError unless the Datasets are of one result type that eqt can draw; `names` (the
    files) are named in the message. Returns the type."""
    kinds = [result_type(ds) for ds in datasets]
    for kind, name in zip(kinds, names):
        if kind == "comparison":
            raise InputError("eqt-plot does not draw comparisons: `eqt-compare A B --plot FIGURE` draws A and B "
                             "with their differences, or overlay the two results: `eqt-plot A B -o FIGURE`", name)
        if kind not in DRAWERS:
            raise InputError(f"eqt-plot cannot draw result type '{kind}' (it draws: "
                             f"{', '.join(sorted(DRAWERS))})", name)
    if len(set(kinds)) > 1:
        other = next(k for k, kind in enumerate(kinds) if kind != kinds[0])
        raise InputError(f"results of different types cannot be overlaid: this {kinds[other]} result on the "
                         f"{kinds[0]} result of {names[0]}", names[other])
    for ds, name in zip(datasets, names):
        if "result_type" in ds.attrs:
            results.check_complete(ds, name)
    return kinds[0]


def draw(datasets, labels, path, fmt=None, metadata=None, names=None):
    """Draw `datasets` (one result type, overlaid; legends from `labels`) and save the figure
    to `path` as `fmt` (png, pdf or svg; default: from the suffix of path). A result that lacks
    a variable its type needs is bad input (InputError naming it), never a traceback."""
    from .common import figure

    names = names or [None] * len(datasets)
    kind = check_drawable(datasets, names)
    fmt = fmt or suffix_format(path)
    with figure(path, rows=0, fmt=fmt, metadata=metadata, layout="constrained") as (fig, _):
        try:
            DRAWERS[kind](fig, datasets, list(labels))
        except KeyError as err:
            text = str(err.args[0]) if err.args else ""
            missing = re.search(r"named '([^']+)'", text)
            raise InputError(f"not a complete {kind} result: no {missing.group(1) if missing else text!r}",
                             ", ".join(str(n) for n in names if n) or None) from None


def draw_result(ds, path):
    """The --plot of the analysis commands: one result, drawn to `path` (PNG unless it ends in
    .pdf or .svg)."""
    ext = os.path.splitext(str(path))[1].lower().lstrip(".")
    draw([ds], [None], path, fmt=ext if ext in FORMATS else "png")
