"""eqt-compare: do two results of one type differ beyond their statistical noise?"""
import json
import os
import sys

import click
import numpy as np

from eqt_analysis import compare as cmp
from eqt_analysis import results
from eqt_analysis.errors import InputError

from .common import (FiniteFloat, _spool_stdin, claim_result, command, eqt_command, figure, input_stem,
                     output_option, write_result)


@eqt_command()
@click.argument("path_a", metavar="A")
@click.argument("path_b", metavar="B")
@click.option("--level", type=FiniteFloat(min=0.5, max=8), default=2.0, show_default=True, metavar="SIGMA",
              help="Nominal level in standard deviations: the false-alarm rate of the whole comparison is "
                   "that of one two-sided normal point at SIGMA (2: 4.55 %), whatever the number of points.")
@click.option("--var", "variables", multiple=True, metavar="NAME",
              help="Compare only this value (repeatable), e.g. --var g. Default: every value that has a "
                   "standard error.")
@output_option("Comparison result (NetCDF: X_diff, X_diff_err, X_z per value; the verdict in its attributes)",
               "A.vs.B.compare.nc in the current folder (A and B without .nc)")
@click.option("--plot", default=None, metavar="PATH",
              help="Also draw A and B overlaid (the value and labels of the largest deviation) with a panel "
                   "of the scores z against the threshold, to this figure (PDF or SVG for a .pdf or .svg name, "
                   "else PNG).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the verdict and its numbers as one JSON object on stdout instead of the line.")
@click.option("--quiet", "-q", is_flag=True, help="No verdict line (the result file and --json hold it).")
@command
def main(path_a, path_b, level, variables, output, plot, as_json, quiet):
    """Compare two eqt results of the same type (e.g. g(r) of the plain and of the averaged model)
    point by point: the difference A - B, its combined standard error, and a score z for every
    point; then one verdict that accounts for the number of points compared (Sidak's
    family-wise threshold at --level), e.g. "indistinguishable at 2σ" or "differs: g at pair =
    O-O, r = 2.8 Å by 5.1σ". Errors from n blocks count as Student t with n - 1 degrees of
    freedom (Welch-Satterthwaite), so few blocks do not raise false alarms.

    Both results need the same grids and units (compute them with the same options); values
    without standard errors are not compared. The verdict goes to stdout (to stderr with -o -).

    \b
    Examples:
      eqt-compare plain.rdf.nc averaged.rdf.nc               # -> plain.rdf.vs.averaged.rdf.compare.nc
      eqt-compare a.orient.nc b.orient.nc --var F --plot diff.png
      eqt-compare a.msd.nc b.msd.nc --json -o /dev/null | jq .verdict
    """
    if path_a == "-" and path_b == "-":
        raise InputError("only one of A and B can be standard input", "-")
    if as_json and output == "-":
        raise InputError("--json and -o - both write to stdout; give -o FILE", "-")
    where = claim_result([path_a, path_b], "compare", output, None, plot,
                         default=f"{input_stem(path_a)}.vs.{input_stem(path_b)}.compare.nc")
    a, b = _load(path_a), _load(path_b)
    result = cmp.compare(a, b, level, list(variables) or None, (path_a, path_b))
    line = json.dumps(cmp.summary(result), ensure_ascii=False) if as_json else result.attrs["verdict"]
    if as_json or not quiet:
        click.echo(line, err=where.output.kind == "stdout" and not as_json)
    write_result(result, where, lambda ds, path: draw(a, b, ds, path, (_label(path_a), _label(path_b))))


def _load(path):
    if path != "-":
        return results.load(path)
    spooled = _spool_stdin("netcdf")
    try:
        return results.load(spooled)
    finally:
        os.remove(spooled)


def _label(path):
    return "stdin" if path == "-" else os.path.basename(path)


def draw(a, b, comparison, path, labels):
    """A and B along the worst point's curve (its other labels fixed) with error bands, and the scores z
    with the family-wise threshold; a map variable (two numeric grid axes) as maps of A, B and z."""
    name = comparison.attrs["worst_variable"]
    z_all = comparison[f"{name}_z"]
    k = int(np.argmax(np.where(np.isnan(z_all.values), -1.0, np.abs(z_all.values))))
    index = np.unravel_index(k, z_all.shape) if z_all.ndim else ()
    threshold, units = comparison.attrs["threshold_z"], a[name].attrs.get("units", "1")
    numeric = [d for d in a[name].dims if d in a.coords and a[d].dtype.kind == "f" and a.sizes[d] > 1]
    fixed = {d: i for d, i in zip(a[name].dims, index) if d not in numeric[-2:]}
    pick = (lambda var: var.isel(fixed)) if fixed else (lambda var: var)
    value_label = f"{name} ({units})" if units != "1" else name
    if len(numeric) >= 2:
        y, x = numeric[-2:]
        with figure(path, 1, 3, (14, 4)) as (fig, axes):
            panels = [(pick(a[name]), labels[0], "viridis"), (pick(b[name]), labels[1], "viridis"),
                      (pick(z_all), "score z", "magma")]
            for ax, (var, title, cmap) in zip(axes[0], panels):
                img = ax.pcolormesh(a[x].values, a[y].values, var.transpose(y, x).values, cmap=cmap, shading="auto")
                fig.colorbar(img, ax=ax, label=value_label if title != "score z" else "z (σ)")
                ax.set(xlabel=_axis(a, x), ylabel=_axis(a, y), title=title)
            fig.suptitle(comparison.attrs["verdict"], fontsize=9)
        return
    with figure(path, 2, 1, (7, 6), sharex=bool(numeric), gridspec_kw={"height_ratios": [2, 1]}) as (fig, axes):
        top, bottom = axes[0, 0], axes[1, 0]
        dim = numeric[-1] if numeric else None
        x = a[dim].values if dim else None
        for ds, label in ((a, labels[0]), (b, labels[1])):
            v = pick(ds[name]).values
            e = pick(ds[name + cmp.ERR]).values if name + cmp.ERR in ds else np.zeros_like(v)
            if dim:
                line, = top.plot(x, v, label=label)
                top.fill_between(x, v - e, v + e, color=line.get_color(), alpha=0.3)
            else:
                top.errorbar(np.arange(v.size), v.ravel(), e.ravel(), fmt="o", label=label)
        z = pick(z_all).values
        if dim:
            bottom.plot(x, z, color="black", lw=1)
        else:
            bottom.plot(np.arange(z.size), z.ravel(), "ko")
        for sign in (1, -1):
            bottom.axhline(sign * threshold, color="tab:red", ls="--", lw=1)
        bottom.axhline(0, color="grey", lw=0.5)
        where = ", ".join(f"{d} = {a[d].values[i]}" for d, i in fixed.items() if d in a.coords)
        top.set(ylabel=value_label, title=f"{name}{' (' + where + ')' if where else ''}")
        top.legend()
        bottom.set(ylabel="z (σ)", xlabel=_axis(a, dim) if dim else "point")
        bottom.text(0.01, 0.95, f"threshold ±{threshold:.2f}σ ({comparison.attrs['n_points']} points)",
                    transform=bottom.transAxes, va="top", fontsize=8, color="tab:red")
        fig.suptitle(comparison.attrs["verdict"], fontsize=8)


def _axis(ds, dim):
    units = ds[dim].attrs.get("units", "1")
    return ds[dim].attrs.get("long_name", dim) + ("" if units == "1" else f" ({units})")


if __name__ == "__main__":
    sys.exit(main())
