"""eqt-train: fit an eqt transformer potential to energies and forces, with rotational augmentation."""
import os
import signal
import sys

import click
from tqdm import tqdm

from eqt_analysis.errors import InputError

from .common import (NON_NEGATIVE, POSITIVE, FiniteFloat, atomic_output, claim, command, command_line, eqt_command,
                     quiet_option)
from .outputs import Interrupted


@eqt_command()
@click.argument("data", metavar="DATA.xyz")
@click.option("--output", "-o", default=None, metavar="PATH",
              help="Model file to write (and PATH.ckpt beside it). Default: model.pkl, which must not "
                   "exist yet unless --resume is given.")
@click.option("--preset", type=click.Choice(["small", "medium", "paper"]), default="small", show_default=True,
              help="Architecture: 'small' trains on a laptop CPU; 'medium' is twice as wide and one layer "
                   "deeper; 'paper' is the 2024 study's PET size.")
@click.option("--cutoff", type=POSITIVE, default=4.0, show_default=True, help="Cutoff radius (Å).")
@click.option("--epochs", type=click.IntRange(min=1), default=100, show_default=True,
              help="Passes over the training structures (with --resume: the total, counting earlier epochs).")
@click.option("--batch-size", type=click.IntRange(min=1), default=2, show_default=True,
              help="Structures per optimizer step (limited by --memory).")
@click.option("--learning-rate", type=POSITIVE, default=1e-3, show_default=True,
              help="Peak Adam learning rate, reached after a linear warm-up, then cosine decay to 1 % of it.")
@click.option("--energy-weight", type=NON_NEGATIVE, default=0.01, show_default=True,
              help="Weight of the per-atom energy term against the force term, both normalized by their "
                   "running MSEs (as PET; paper: 0.01).")
@click.option("--no-augment", is_flag=True, help="No random rotations (for comparison).")
@click.option("--inversion", is_flag=True, help="Augment with the inversion too.")
@click.option("--n-test", type=click.IntRange(min=0), default=20, show_default=True,
              help="Structures held out for testing (never seen in training).")
@click.option("--val-fraction", type=FiniteFloat(0, 1, max_open=True), default=0.1, show_default=True,
              help="Fraction of the rest used for validation (best-model selection).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of split, initialization and rotations.")
@click.option("--float64", is_flag=True, help="Train in double precision (default float32).")
@click.option("--energy-key", default="energy", show_default=True, help="Name of the energy label (eV) in DATA.xyz.")
@click.option("--forces-key", default="forces", show_default=True, help="Name of the forces label (eV/Å) in DATA.xyz.")
@click.option("--resume", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Continue from a checkpoint (OUTPUT.ckpt of an earlier run), with the DATA and options it "
                   "was started with; only --epochs may change (anything else is refused).")
@click.option("--init", "init", type=click.Path(exists=True, dir_okay=False), default=None, metavar="MODEL",
              help="Start from this model file (its architecture and parameters; --preset and --cutoff are "
                   "then its own) with a new optimizer and schedule: a further training stage. It must have been "
                   "trained with the same split (--seed, --n-test, --val-fraction) when DATA is its data.")
@click.option("--memory", type=click.IntRange(min=16), default=2048, show_default=True, metavar="MB",
              help="Work space of one training step and of the evaluation batches: a --batch-size whose "
                   "step needs more is refused (a step needs about 0.3 GB per structure of 192 atoms "
                   "with the small preset in float32); Python, JAX and the compiled programs take about "
                   "0.7 GB more.")
@quiet_option
@command
def main(data, output, preset, cutoff, epochs, batch_size, learning_rate, energy_weight, no_augment,
         inversion, n_test, val_fraction, seed, float64, energy_key, forces_key, resume, init, memory, quiet):
    """Train an eqt model on the energies (eV) and forces (eV/Å) of DATA.xyz (extxyz).

    \b
    Seeded split into train/validation/test; per-species reference energies by least squares;
    loss = w_E MSE(E/N)/s_E + MSE(F)/s_F with s_E, s_F running MSEs (PET's normalization);
    Adam with warm-up and cosine decay; gradient clipping; a fresh random
    rotation of every structure at every step; best model by validation force MAE, its
    reference energies re-fitted to the training energies at the end; the
    validation set's rotational spread is reported every epoch (symmetry monitor). Writes
    OUTPUT (model.pkl) and OUTPUT.ckpt (resumable). The model's metadata lists its training
    stages (--init continues a model as a new stage) with their epochs and CPU seconds.

    \b
    Example:
      eqt-train water.xyz --epochs 200 -o model.pkl
    """
    if resume and init:
        raise click.UsageError("give --resume (continue a stage) or --init (start a new one), not both")
    if output is None and not resume and os.path.lexists("model.pkl"):
        raise InputError("exists; give -o to name the new model (or -o model.pkl to replace it)", "model.pkl")
    explicit = output is not None
    output = output or "model.pkl"
    if output == "-":
        raise InputError("eqt-train writes a model file and its checkpoint; give a file name", "-")
    targets = claim({"-o": output, "checkpoint": output + ".ckpt"}, [data] + ([init] if init else []))
    if os.path.lexists(output + ".ckpt") and not (resume and os.path.samefile(resume, output + ".ckpt")):
        _check_replaceable_checkpoint(output + ".ckpt", named=explicit)
    if not os.path.exists(data):
        raise InputError("no such file", data)
    import jax

    if float64:
        jax.config.update("jax_enable_x64", True)
    from eqt_model import modelfile, training

    saved = []  # the epochs whose model and checkpoint this run wrote

    def save(config, params, meta, state):
        if state is not None:
            with atomic_output(targets["checkpoint"], ".ckpt") as tmp:
                modelfile.save_checkpoint(tmp, config, state, meta)
        with atomic_output(targets["-o"], ".pkl") as tmp:
            modelfile.save(tmp, config, params, meta)
        saved.append(meta["epochs"])

    progress = _Progress(epochs, quiet)
    try:
        err = training.run(data, preset, cutoff, epochs, batch_size, learning_rate, energy_weight, not no_augment,
                           inversion, n_test, val_fraction, seed, energy_key, forces_key, resume, memory, save,
                           progress, {"command": command_line(), "float64": float64}, init)
    except (Interrupted, KeyboardInterrupt) as stop:
        progress.close()
        if not saved:
            raise
        signum = getattr(stop, "signum", signal.SIGINT)
        click.echo(f"Error: interrupted by {signal.Signals(signum).name}; {output} holds the best model so far and "
                   f"{output}.ckpt the state after epoch {saved[-1]} (continue with --resume {output}.ckpt)", err=True)
        raise click.exceptions.Exit(128 + signum) from None
    finally:
        progress.close()
    if err:
        click.echo(f"test ({n_test} structures): energy MAE {err['energy_mae'] * 1e3:.1f} meV/structure "
                   f"({err['energy_per_atom_mae'] * 1e3:.2f} meV/atom), force MAE {err['forces_mae'] * 1e3:.1f} meV/Å "
                   f"(RMSE {err['forces_rmse'] * 1e3:.1f})", err=True)


class _Progress:
    """training.run's reports: message lines, and epoch records on a bar (meV, meV/Å) opened at the first
    report, so that input refused before training starts leaves no empty bar above its error line."""

    def __init__(self, epochs, quiet):
        self.epochs, self.quiet, self.bar = epochs, quiet, None

    def __call__(self, news):
        if self.bar is None:
            self.bar = tqdm(total=self.epochs, unit="epoch", disable=self.quiet, file=sys.stderr, desc="train")
        if isinstance(news, str):
            self.bar.write(news, file=sys.stderr)
            return
        self.bar.n = int(news["epoch"])
        self.bar.set_postfix(F_mae=f"{news['forces_mae'] * 1e3:.1f}meV/A",
                             E_mae=f"{news['energy_per_atom_mae'] * 1e3:.2f}meV/at",
                             rot_F=f"{news['rot_std_forces'] * 1e3:.2f}meV/A")

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _check_replaceable_checkpoint(path, named):
    """InputError unless the existing `path` (OUTPUT.ckpt) may become this run's checkpoint: it must be an
    eqt-train checkpoint, and -o must have named the output (replacing an earlier run's model and checkpoint)."""
    from eqt_model import modelfile

    try:
        modelfile.load_checkpoint(path)
    except InputError:
        raise InputError("exists and is not an eqt-train checkpoint; choose another -o, or remove it", path) from None
    if not named:
        raise InputError("exists (an earlier run's checkpoint): continue it with --resume, replace it with "
                         "-o model.pkl, or remove it", path)
