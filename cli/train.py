"""eqt-train: fit an eqt transformer potential to energies and forces, with rotational augmentation."""
import hashlib
import os
import sys

import click
import numpy as np
from tqdm import tqdm

from eqt_analysis.errors import InputError

from .common import (NON_NEGATIVE, POSITIVE, FiniteFloat, atomic_output, claim, command, command_line, eqt_command,
                     quiet_option)


@eqt_command()
@click.argument("data", metavar="DATA.xyz")
@click.option("--output", "-o", default=None, metavar="PATH",
              help="Model file to write (and PATH.ckpt beside it). Default: model.pkl, which must not "
                   "exist yet unless --resume is given.")
@click.option("--preset", type=click.Choice(["small", "paper"]), default="small", show_default=True,
              help="Architecture: 'small' trains on a laptop CPU; 'paper' is the 2024 study's PET size.")
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
              help="Continue from a checkpoint (OUTPUT.ckpt of an earlier run).")
@click.option("--memory", type=click.IntRange(min=16), default=2048, show_default=True, metavar="MB",
              help="Work space of one training step and of the evaluation batches: a --batch-size whose "
                   "step needs more is refused (a step needs about 0.3 GB per structure of 192 atoms "
                   "with the small preset in float32); Python, JAX and the compiled programs take about "
                   "0.7 GB more.")
@quiet_option
@command
def main(data, output, preset, cutoff, epochs, batch_size, learning_rate, energy_weight, no_augment,
         inversion, n_test, val_fraction, seed, float64, energy_key, forces_key, resume, memory, quiet):
    """Train an eqt model on the energies (eV) and forces (eV/Å) of DATA.xyz (extxyz).

    \b
    Seeded split into train/validation/test; per-species reference energies by least squares;
    loss = w_E MSE(E/N)/s_E + MSE(F)/s_F with s_E, s_F running MSEs (PET's normalization);
    Adam with warm-up and cosine decay; gradient clipping; a fresh random
    rotation of every structure at every step; best model by validation force MAE, its
    reference energies re-fitted to the training energies at the end; the
    validation set's rotational spread is reported every epoch (symmetry monitor). Writes
    OUTPUT (model.pkl) and OUTPUT.ckpt (resumable).

    \b
    Example:
      eqt-train water.xyz --epochs 200 -o model.pkl
    """
    if output is None and not resume and os.path.lexists("model.pkl"):
        raise InputError("exists; give -o to name the new model (or -o model.pkl to replace it)", "model.pkl")
    output = output or "model.pkl"
    if output == "-":
        raise InputError("eqt-train writes a model file and its checkpoint; give a file name", "-")
    targets = claim({"-o": output, "checkpoint": output + ".ckpt"}, [data])
    import jax

    if float64:
        jax.config.update("jax_enable_x64", True)
    from eqt_model import data as datamod
    from eqt_model import model, modelfile, training
    from eqt_model.config import preset as make_config

    if not os.path.exists(data):
        raise InputError("no such file", data)
    frames, energies, forces = datamod.read(data, energy_key, forces_key)
    species = sorted({int(z) for a in frames for z in a.numbers})
    config = make_config(preset, species, cutoff=cutoff)
    state, record = None, {}
    if resume:
        config, state, record = modelfile.load_checkpoint(resume)
        species = list(config.species)
    ds = datamod.build(frames, energies, forces, config.species, config.cutoff)
    train_idx, val_idx, test_idx = training.split(len(frames), n_test, val_fraction, seed)
    train, val = datamod.subset(ds, train_idx), datamod.subset(ds, val_idx)
    reference, scale = training.fit_output(train, len(config.species))
    params = model.init(jax.random.PRNGKey(seed), config)
    params["output"] = {"scale": np.asarray(scale), "reference": np.asarray(reference)}
    digest = hashlib.sha256(open(data, "rb").read()).hexdigest()
    meta = {"data": os.path.abspath(data), "data_sha256": digest, "command": command_line(),
            "split": {"train": train_idx.tolist(), "validation": val_idx.tolist(), "test": test_idx.tolist()},
            "seed": seed, "augment": not no_augment, "inversion": inversion, "energy_weight": energy_weight,
            "float64": float64, "reference_energies_eV": reference.tolist(), "output_scale": scale}
    click.echo(f"{len(frames)} structures: {len(train_idx)} train, {len(val_idx)} validation, {len(test_idx)} test; "
               f"species {species}; preset {preset}", err=True)
    bar = tqdm(total=epochs, initial=int(state["epoch"]) if state else 0, unit="epoch", disable=quiet,
               file=sys.stderr, desc="train")

    def on_epoch(rec, best, st):
        bar.update(1)
        bar.set_postfix(F_mae=f"{rec['forces_mae'] * 1e3:.1f}meV/A", E_mae=f"{rec['energy_per_atom_mae'] * 1e3:.2f}meV/at",
                        rot_F=f"{rec['rot_std_forces'] * 1e3:.2f}meV/A")
        with atomic_output(targets["checkpoint"], ".ckpt") as tmp:
            modelfile.save_checkpoint(tmp, config, st, meta)
        with atomic_output(targets["-o"], ".pkl") as tmp:
            modelfile.save(tmp, config, best[1], {**meta, "history": st["history"], "epochs": rec["epoch"]})

    if state is not None:
        state = {**state, "params": jax.tree_util.tree_map(jax.numpy.asarray, state["params"]),
                 "best_params": jax.tree_util.tree_map(jax.numpy.asarray, state["best_params"])}
    best, history, _ = training.fit(params, config, train, val, epochs, batch_size, learning_rate, energy_weight,
                                    not no_augment, inversion, seed, state, on_epoch, memory)
    bar.close()
    best = training.refit_reference(best, config, train, memory)
    meta["reference_energies_eV"] = np.asarray(best["output"]["reference"], float).tolist()
    if test_idx.size:
        test = datamod.subset(ds, test_idx)
        err = training.errors(test, *training.evaluate(best, config, test, memory=memory))
        meta["test_errors"] = err
    with atomic_output(targets["-o"], ".pkl") as tmp:
        modelfile.save(tmp, config, best, {**meta, "history": history, "epochs": epochs})
    if test_idx.size:
        click.echo(f"test ({len(test_idx)} structures): energy MAE {err['energy_mae'] * 1e3:.1f} meV/structure "
                   f"({err['energy_per_atom_mae'] * 1e3:.2f} meV/atom), force MAE {err['forces_mae'] * 1e3:.1f} meV/Å "
                   f"(RMSE {err['forces_rmse'] * 1e3:.1f})", err=True)
