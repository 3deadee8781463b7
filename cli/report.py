"""The report of eqt-study: index.html (self-contained: figures embedded) and README.md from the study's files."""
import base64
import datetime
import html
import os
import re

COST_CAVEAT = ("Timed while the study ran: other work on the machine at the same time slows the runs unevenly "
               "and distorts these ratios (compare them only from a run on an otherwise idle machine).")

FIXES = {"bulk": {"mts2i": "MTS, 2i average every 10th step", "random": "random rotation every step"},
         "molecule": {"2i": "2i average every step"}}
OBSERVABLES = {"rdf": "g_OO(r), c_L, c_T", "orient": "−ln P(cos θ, φ)", "msd": "MSD of O", "rotcorr": "dipole C(t)",
               "tcf": "potential-energy autocorrelation", "angmom": "conserved-energy drift, L, torque",
               "tcf_delta": "autocorrelation of E_2i − E_plain", "rotvar": "rotational error along the run"}


def _attrs(path):
    import xarray as xr
    try:
        with xr.open_dataset(path) as ds:
            return dict(ds.attrs)
    except (OSError, ValueError):
        return None


def verdicts(folder, kind):
    """Rows (observable, {fix: (short verdict, full verdict) or None}) for `kind` (bulk or molecule)."""
    rows = []
    for obs, label in OBSERVABLES.items():
        cells, seen = {}, False
        for fix in FIXES[kind]:
            attrs = _attrs(os.path.join(folder, "compare", f"{kind}_{obs}_{fix}_vs_plain.nc"))
            seen |= attrs is not None
            if attrs is None:
                cells[fix] = None
            else:
                short = (f"differs ({attrs['max_abs_z']:.1f}σ > {attrs['threshold_z']:.1f}σ)" if attrs["differs"]
                         else f"same ({attrs['max_abs_z']:.1f}σ ≤ {attrs['threshold_z']:.1f}σ)")
                cells[fix] = (short, attrs["verdict"])
        if seen:
            rows.append((f"{label} ({obs})", cells))
    return rows


def rate_in_log(folder, step):
    """ns/day from eqt-md's closing line in logs/STEP.log, or None."""
    try:
        text = open(os.path.join(folder, "logs", f"{step}.log")).read()
    except OSError:
        return None
    found = re.findall(r"([0-9.eE+-]+) ns/day after the first frame", text)
    return float(found[-1]) if found else None


def costs(folder):
    """{variant: ns/day} of the bulk runs: from their own logs, else from the short cost runs."""
    out = {}
    for fix in ("plain",) + tuple(FIXES["bulk"]):
        rate = rate_in_log(folder, f"md_bulk_{fix}") or rate_in_log(folder, f"cost_bulk_{fix}")
        if rate:
            out[fix] = rate
    return out


def tables(folder, steps=()):
    """[(title, text)] of the tables the steps printed (rotational errors, ice); the table of an eqt-opt
    result made elsewhere (--runs) is printed from the result."""
    for step in steps:
        log = os.path.join(folder, "logs", step.name.replace(" ", "_") + ".txt")
        if step.program == "eqt-opt" and step.done(folder) and not os.path.exists(log):
            import xarray as xr

            from eqt_model import optimize
            from eqt_model.rotvar import format_table
            with xr.open_dataset(os.path.join(folder, step.outputs[0])) as ds:
                text = format_table(*optimize.table(ds.load()), "text")
            os.makedirs(os.path.dirname(log), exist_ok=True)
            with open(log, "w") as handle:
                handle.write(text + "\n")
    out = []
    for name in sorted(os.listdir(os.path.join(folder, "logs"))) if os.path.isdir(os.path.join(folder, "logs")) else []:
        if name.endswith(".txt"):
            text = open(os.path.join(folder, "logs", name)).read().strip()
            if text:
                out.append((_table_title(name[:-4]), text))
    return out


def html_table(text):
    """An aligned text table (columns apart by spaces, no spaces within a cell) as an HTML table whose
    headings may wrap at '[' and '_' (wide tables fit the page); as preformatted text when its rows
    do not all have the same number of cells."""
    rows = [line.split() for line in text.strip().splitlines()]
    if len(rows) < 2 or len({len(r) for r in rows}) != 1:
        return f"<pre>{html.escape(text)}</pre>"

    def heading(cell):
        return re.sub(r"(_|\[)", r"<wbr>\1", html.escape(cell))
    return ("<table class='numbers'><tr>" + "".join(f"<th>{heading(c)}</th>" for c in rows[0]) + "</tr>" +
            "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows[1:]) +
            "</table>")


def _table_title(step):
    """A heading for the table a step printed (its log name, e.g. rotvar_bulk_frames)."""
    words = step.split("_")
    if words[0] == "rotvar" and (words[-1] == "frames" or words[1:] == ["test", "set"]):
        return f"Rotational error against grid size: {' '.join(words[1:])} (eqt-rotvar)"
    if words[0] == "rotvar" and len(words) == 3:
        return f"Rotational error |E_plain − E_averaged| along the {words[1]} run with the {words[2]} model"
    if words[0] == "ice":
        return "Ice: relative energies before and after relaxation, plain and 2i-averaged (eqt-opt --compare)"
    return step.replace("_", " ")


def warnings(folder):
    """[(step, warning line)] from the steps' logs (eqt's 'warning: ...' lines)."""
    path = os.path.join(folder, "logs")
    out = []
    for name in sorted(os.listdir(path)) if os.path.isdir(path) else []:
        if name.endswith(".log"):
            for line in open(os.path.join(path, name), errors="replace"):
                if line.startswith("warning: "):
                    out.append((name[:-4].replace("_", " "), line[len("warning: "):].strip()))
    return out


def figures(folder):
    path = os.path.join(folder, "figures")
    return sorted(f for f in os.listdir(path) if f.endswith(".png")) if os.path.isdir(path) else []


def _aspect(path):
    """Width / height of a PNG (from its header)."""
    with open(path, "rb") as handle:
        head = handle.read(24)
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return width / max(height, 1)


def write(folder, steps, plan, quick):
    """Write index.html and README.md into the report folder; returns the HTML path."""
    from eqt_analysis import __version__
    done = [(s, s.done(folder)) for s in steps]
    cost = costs(folder)
    title = "eqt study" + (" (quick)" if quick else "")
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    intro = (f"Made by eqt {__version__} on {stamp}: {sum(d for _, d in done)} of {len(done)} steps done. "
             f"Molecule runs {plan.molecule_ps:g} ps (NVE), bulk runs {plan.bulk_ps:g} ps (NVT 300 K; the first "
             f"{plan.equilibration_ps:g} ps left out of the analyses). A verdict compares each fix with the plain "
             "model point by point (eqt-compare: Welch t scores, family-wise threshold at 2σ); 'same' means "
             "indistinguishable within the statistical noise of these runs.")
    if quick:
        intro += (" QUICK RUN: far too short for statistics. Its blocks are shorter than the correlation times, so "
                  "the error bars are too small and neither 'same' nor 'differs' means anything: it checks the "
                  "pipeline only.")
    md, body = [f"# {title}", "", intro, ""], [f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(intro)}</p>"]
    for kind in ("bulk", "molecule"):
        rows = verdicts(folder, kind)
        if not rows:
            continue
        fixes = FIXES[kind]
        heading = "Bulk water: does a fix change the observables?" if kind == "bulk" else \
            "Gas-phase molecule: does averaging change the observables?"
        md += [f"## {heading}", "", "| observable | " + " | ".join(fixes.values()) + " |",
               "|---|" + "---|" * len(fixes)]
        body += [f"<h2>{html.escape(heading)}</h2>", "<table><tr><th>observable</th>" +
                 "".join(f"<th>{html.escape(v)}</th>" for v in fixes.values()) + "</tr>"]
        for label, cells in rows:
            md.append(f"| {label} | " + " | ".join(c[0] if c else "—" for c in cells.values()) + " |")
            body.append(f"<tr><td>{html.escape(label)}</td>" + "".join(
                f"<td class='{'bad' if c and c[0].startswith('differs') else 'ok'}' title='{html.escape(c[1])}'>"
                f"{html.escape(c[0])}</td>" if c else "<td>—</td>" for c in cells.values()) + "</tr>")
        body.append("</table>")
        md += ["", "Full verdicts:", ""] + [f"- {label}, {fixes[f]}: {c[1]}" for label, cells in rows
                                             for f, c in cells.items() if c] + [""]
        body.append("<ul>" + "".join(f"<li>{html.escape(label)}, {html.escape(fixes[f])}: {html.escape(c[1])}</li>"
                                     for label, cells in rows for f, c in cells.items() if c) + "</ul>")
    if cost:
        base = cost.get("plain")
        md += ["## Cost of each fix (the bulk box, eqt-md, this machine)", "", "| run | ns/day | cost vs plain |",
               "|---|---|---|"]
        body += ["<h2>Cost of each fix (eqt-md, this machine)</h2>",
                 "<table><tr><th>run</th><th>ns/day</th><th>cost vs plain</th></tr>"]
        for fix, rate in cost.items():
            ratio = f"{base / rate:.2f}x" if base else "—"
            name = "plain" if fix == "plain" else FIXES["bulk"][fix]
            md.append(f"| {name} | {rate:.4g} | {ratio} |")
            body.append(f"<tr><td>{html.escape(name)}</td><td>{rate:.4g}</td><td>{ratio}</td></tr>")
        body.append("</table>")
        md += ["", COST_CAVEAT, ""]
        body.append(f"<p>{html.escape(COST_CAVEAT)}</p>")
    notes = warnings(folder)
    if notes:
        md += ["## Warnings of the steps", ""] + [f"- {step}: {line}" for step, line in notes] + [""]
        body += ["<h2>Warnings of the steps</h2>", "<ul>" + "".join(
            f"<li>{html.escape(step)}: {html.escape(line)}</li>" for step, line in notes) + "</ul>"]
    for name, text in tables(folder, steps):
        md += [f"## {name}", "", "```", text, "```", ""]
        body += [f"<h2>{html.escape(name)}</h2>", html_table(text)]
    figs = figures(folder)
    if figs:
        md += ["## Figures", ""]
        body.append("<h2>Figures</h2>")
        for fig in figs:
            data = base64.b64encode(open(os.path.join(folder, "figures", fig), "rb").read()).decode()
            md += [f"![{fig}](figures/{fig})", ""]
            wide = _aspect(os.path.join(folder, "figures", fig)) > 2  # three panels: the full width
            body.append(f"<figure class='{'wide' if wide else ''}'><img alt='{html.escape(fig)}' "
                        f"src='data:image/png;base64,{data}'>"
                        f"<figcaption>{html.escape(fig)}</figcaption></figure>")
    md += ["## Steps", "", "Each step ran in this folder:", ""] + \
          [f"- [{'x' if d else ' '}] `{s.command_line()}`" for s, d in done] + [""]
    body += ["<h2>Steps</h2>", "<ol>" + "".join(f"<li class='{'ok' if d else 'bad'}'><code>"
                                                f"{html.escape(s.command_line())}</code></li>" for s, d in done) + "</ol>"]
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:.3em .6em}"
             "td.ok{background:#e8f5e9}td.bad{background:#ffebee}li.bad{color:#b71c1c}"
             "figure{display:inline-block;width:48%;margin:.5%;vertical-align:top}figure.wide{width:98%}img{max-width:100%}figcaption{font-size:80%;color:#555}pre{background:#f5f5f5;padding:.5em;overflow-x:auto}"
             "table.numbers{font-size:85%}table.numbers td{text-align:right;font-family:monospace}"
             "table.numbers th{font-weight:normal;background:#f5f5f5}code{font-size:85%}")
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>" + "\n".join(body) + "</body></html>\n")
    for name, text in (("index.html", page), ("README.md", "\n".join(md))):
        tmp = os.path.join(folder, f".{name}.tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, os.path.join(folder, name))
    return os.path.join(folder, "index.html")
