"""The result schema shared by every analysis (documented in docs/results.md).

A result is one xarray.Dataset whose structure is in its dimensions, not in its variable
names: `g(pair, r)`, `msd(group, lag_time)`, `vdos(species, frequency)`, `P(cos_theta, phi)`,
`error(grid)`. Every variable and coordinate has `units` ("1" when dimensionless or a label)
and `long_name`; a value `X` with a standard error has `X_err` beside it (same dimensions and
units); the global attributes hold `result_type`, `schema_version` and the parameters.
Generic readers (compare, plot, report) use `values_and_errors` instead of parsing names.
"""
import numpy as np

SCHEMA_VERSION = 1
ERR = "_err"
SAME_POINTS = "same_points_as"
OPTIONAL_COORDINATES = {"edge", "frame", "molecule", "atom", "structure"}  # plain indices (r_edge spans edge)


def finish(ds, result_type, **params):
    """Stamp `ds` as a result of `result_type` (schema version, parameters) after checking
    that every variable and coordinate carries units and a long name. Returns `ds`."""
    problems = schema_problems(ds)
    if problems:
        raise ValueError(f"{result_type} result breaks the schema: {'; '.join(problems)}")
    ds.attrs.update(result_type=result_type, schema_version=SCHEMA_VERSION, **params)
    return ds


def schema_problems(ds):
    """Ways in which `ds` breaks the result schema (empty when it follows it)."""
    problems = []
    for name, var in ds.variables.items():
        for key in ("units", "long_name"):
            if key not in var.attrs:
                problems.append(f"{name} has no {key}")
        same = var.attrs.get(SAME_POINTS)
        if same is not None and (same not in ds.data_vars or ds[same].dims != var.dims):
            problems.append(f"{name} re-expresses {same}, which is not a value with its dimensions")
        if name.endswith(ERR):
            value = name[: -len(ERR)]
            if value not in ds.variables:
                problems.append(f"{name} has no value {value}")
            elif ds[value].dims != var.dims or ds[value].attrs.get("units") != var.attrs.get("units"):
                problems.append(f"{name} differs from {value} in dimensions or units")
    return problems


def values_and_errors(ds):
    """{name: (value DataArray, error DataArray or None)} for every value of a result."""
    return {name: (ds[name], ds[name + ERR] if name + ERR in ds else None)
            for name in ds.data_vars if not name.endswith(ERR)}


def variable(dims, values, units, long_name):
    """(dims, values, attrs) for building a Dataset variable with the schema's attributes."""
    return dims, np.asarray(values), {"units": units, "long_name": long_name}


def with_error(name, dims, values, errors, units, long_name, same_points_as=None):
    """{name: ..., name_err: ...} variables of a value and its standard error. same_points_as: the value
    whose points this one re-expresses (a scaled copy, -ln P, a corrected D), recorded as the attribute
    SAME_POINTS: eqt-compare reports both but counts those points once in its family-wise threshold."""
    value = variable(dims, values, units, long_name)
    if same_points_as is not None:
        value[2][SAME_POINTS] = same_points_as
    return {name: value, name + ERR: variable(dims, errors, units, f"standard error of {long_name}")}


def load(path):
    """The eqt result in NetCDF file `path`, loaded into memory (the file is closed again); InputError
    (one line, exit 2) when it cannot be read or is not an eqt result."""
    import xarray as xr

    from .errors import InputError
    try:
        with xr.open_dataset(path, decode_times=False, decode_timedelta=False) as ds:
            ds = ds.load()
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except (OSError, ValueError) as err:
        raise InputError(f"not a readable NetCDF file ({str(err).splitlines()[0] if str(err) else type(err).__name__})",
                         path) from None
    if "result_type" not in ds.attrs:
        raise InputError("not an eqt analysis result (no result_type attribute; a trajectory?)", path)
    return check_complete(ds, path)


def check_complete(ds, path=None):
    """`ds`, or InputError when a dimension of a value is empty or has no coordinate (a damaged result)."""
    from .errors import InputError
    for name in values_and_errors(ds):
        for dim in ds[name].dims:
            if ds.sizes[dim] == 0:
                raise InputError(f"{name} has no points along {dim}", path)
            if dim not in ds.coords and dim not in OPTIONAL_COORDINATES:
                raise InputError(f"{name} has no {dim} coordinate (a damaged result?)", path)
    return ds
