"""Training with rotational augmentation, evaluation, and the symmetry monitor.

Loss = w_E * MSE(E/N) / s_E + MSE(F) / s_F (energies per atom in eV, force components in eV/Å),
where s_E and s_F are running means of the two MSEs (PET's normalization by sliding errors: both
terms stay of order one as training proceeds, so w_E = 0.01 weighs energies against forces at
every stage); optax Adam with linear warm-up and cosine decay and gradient clipping. With
augmentation every structure gets a fresh uniformly random rotation (rotations.random_rotations,
optionally times the inversion) at every step: positions, cell and force labels are rotated
together, the neighbour list (integer lattice shifts) stays valid.
The symmetry monitor reports, every epoch, the spread (standard deviation) of energies and
back-rotated forces over fixed seeded rotations of a few validation structures.
Memory: evaluations run in batches that fit `memory` MB of work space (averaging.per_call), and
a training batch whose step would need more than `memory` is refused (InputError).
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from eqt_analysis.errors import InputError

from . import averaging, compiled, model
from .data import block_slots, blocked, slots_needed, subset, trim
from .rotations import random_rotations

TRAIN_MEMORY_MB = 2048  # default work space of eqt-train: a batch of 4 structures of 192 water atoms fits


def composition(ds, n_species):
    """Atoms of each species per structure (S, n_species)."""
    return np.stack([np.bincount(s[m], minlength=n_species) for s, m in zip(ds.species, ds.atom_mask)]).astype(float)


def fit_output(ds, n_species):
    """Per-species reference energies (eV) by least squares on the composition, and the
    output scale: the RMS force component of the data (eV/Å, at least 0.1)."""
    reference, *_ = np.linalg.lstsq(composition(ds, n_species), ds.energy, rcond=None)
    real = ds.atom_mask[..., None] & np.ones(3, bool)
    scale = max(0.1, float(np.sqrt(np.mean(ds.forces[real] ** 2))))
    return reference, scale


def graphs(ds):
    """The Dataset's structures as one batched Graph (leading axis = structure)."""
    return model.Graph(jnp.asarray(ds.positions), jnp.asarray(ds.cells), jnp.asarray(ds.species),
                       *jax.tree.map(jnp.asarray, tuple(ds.neighbors)))


def _predict(params, config, graph, atom_mask):
    def total(x):
        e = model.atomic_energies(params, config, graph._replace(positions=x))
        return jnp.sum(jnp.where(atom_mask, e, 0.0))

    e, grad = jax.value_and_grad(total)(graph.positions)
    return e, -grad


@functools.partial(compiled.jit, static_argnums=1)
def predict(params, config, graph, atom_mask):
    """Batched (energies (S,), forces (S, N, 3)) of padded structures."""
    return jax.vmap(_predict, in_axes=(None, None, 0, 0))(params, config, graph, atom_mask)


def rotate(graph, rotations):
    """Rotate batched graphs (positions and cells) by rotations (S, 3, 3)."""
    return graph._replace(positions=jnp.einsum("sna,sba->snb", graph.positions, rotations),
                          cell=jnp.einsum("sia,sba->sib", graph.cell, rotations))


def loss_fn(params, config, graph, atom_mask, energy, forces, n_atoms, energy_weight, norms):
    """(normalized loss, (energy-per-atom MSE eV^2, force-component MSE (eV/Å)^2))."""
    e, f = jax.vmap(_predict, in_axes=(None, None, 0, 0))(params, config, graph, atom_mask)
    e_mse = jnp.mean(((e - energy) / n_atoms) ** 2)
    sq = jnp.sum((f - forces) ** 2, axis=-1)
    f_mse = jnp.sum(jnp.where(atom_mask, sq, 0.0)) / (3 * jnp.sum(atom_mask))
    return energy_weight * e_mse / norms[0] + f_mse / norms[1], (e_mse, f_mse)


NORM_DECAY = 0.99  # running means s_E, s_F: about the last 100 steps


def initial_norms(ds, n_species):
    """The MSEs of the untrained model (reference energies, zero forces): the starting s_E, s_F."""
    reference, _ = fit_output(ds, n_species)
    e_mse = np.mean(((ds.energy - composition(ds, n_species) @ reference) / ds.n_atoms) ** 2)
    return np.array([max(e_mse, 1e-12), max(np.mean(ds.forces[ds.atom_mask] ** 2), 1e-12)])


def make_optimizer(learning_rate, steps, warmup):
    schedule = optax.warmup_cosine_decay_schedule(0.0, learning_rate, max(1, warmup), max(steps, warmup + 1),
                                                  learning_rate * 0.01)
    return optax.chain(optax.clip_by_global_norm(10.0), optax.adam(schedule))


@functools.partial(compiled.jit, static_argnums=(1, 2, 8, 9))
def train_step(params, config, optimizer, opt_state, key, batch, energy_weight, norms, inversion, augment):
    graph, atom_mask, energy, forces, n_atoms = batch
    if augment:
        rot = random_rotations(key, energy.shape[0], inversion)
        graph = rotate(graph, rot)
        forces = jnp.einsum("sna,sba->snb", forces, rot)
    (loss, mses), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        params, config, graph, atom_mask, energy, forces, n_atoms, energy_weight, norms)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss, jnp.stack(mses)


BUCKET = 8  # batches formed from one chunk of the shuffled structures, sorted by the slots they need


def batches(order, slots, batch_size, rng):
    """The index arrays of one epoch's steps from a shuffled order of the structures. Every chunk of
    BUCKET batches is sorted by the neighbour slots its structures need (data.slots_needed), so
    structures of similar slots share a batch (little padding), and its batches come in random order.
    A short last batch is filled up from the start of the order (one batch size)."""
    steps = []
    chunk = BUCKET * batch_size
    for lo in range(0, len(order), chunk):
        part = order[lo:lo + chunk]
        part = part[np.argsort(slots[part], kind="stable")]
        group = [part[b:b + batch_size] for b in range(0, len(part), batch_size)]
        if len(group[-1]) < batch_size:
            group[-1] = np.concatenate([group[-1], order[:batch_size - len(group[-1])]])
        steps += [group[i] for i in rng.permutation(len(group))]
    return steps


BLOCKS = (0.4, 0.3, 0.2, 0.1)  # training batches: fractions of the atoms in blocks of their own slot counts


def batch_arrays(ds, index, dtype=None, blocks=BLOCKS, slots=None):
    """The structures `index` of a Dataset, their atoms sorted by neighbour count in `blocks`, each
    block with the slots its atoms need (data.blocked), or with slots[k] for a batch needing k slots
    (data.block_slots: one shape per k), as the batch (graph, atom_mask, energy, forces, n_atoms) of
    train_step. The same loss as one block trimmed to the batch's slots (data.trim); on the example
    model's data epochs ran 2.09x faster than at 18d646e (1.51x with one trimmed block)."""
    part = subset(ds, index)
    part = blocked(part, blocks, None if slots is None else slots[int(slots_needed(part).max())])
    graph = graphs(part)
    dtype = graph.positions.dtype if dtype is None else dtype
    return (graph, jnp.asarray(part.atom_mask), jnp.asarray(part.energy, dtype), jnp.asarray(part.forces, dtype),
            jnp.asarray(part.n_atoms, dtype))


def evaluate(params, config, ds, batch_size=8, memory=averaging.DEFAULT_MEMORY_MB):
    """Predicted energies (S,) and forces (S, N, 3) of a Dataset, in batches of batch_size
    structures or fewer, as many as fit `memory` MB of work space."""
    itemsize = jnp.dtype(jnp.result_type(float)).itemsize
    batch_size = min(batch_size, averaging.per_call(memory, config, *ds.neighbors.mask.shape[1:], itemsize))
    es, fs = [], []
    for lo in range(0, len(ds.energy), batch_size):
        part = trim(subset(ds, np.arange(lo, min(lo + batch_size, len(ds.energy)))))
        e, f = predict(params, config, graphs(part), jnp.asarray(part.atom_mask))
        es.append(np.asarray(e))
        fs.append(np.asarray(f))
    return np.concatenate(es), np.concatenate(fs)


def refit_reference(params, config, ds, memory=averaging.DEFAULT_MEMORY_MB):
    """params with the per-species reference energies (eV) re-fitted by least squares to the
    residuals E - E_model on ds: forces do not fix the energy offset, and the lightly weighted
    energy term leaves it loose, so this is done once after training."""
    e, _ = evaluate(params, config, ds, memory=memory)
    shift, *_ = np.linalg.lstsq(composition(ds, len(config.species)), ds.energy - e, rcond=None)
    reference = np.asarray(params["output"]["reference"], float) + shift
    return {**params, "output": {**params["output"], "reference": jnp.asarray(reference, dtype=e.dtype)}}


def errors(ds, energies, forces):
    """MAE/RMSE of energies (per structure and per atom, eV) and forces (eV/Å)."""
    de = energies - ds.energy
    df = (forces - ds.forces)[ds.atom_mask]
    return {"energy_mae": float(np.mean(np.abs(de))), "energy_rmse": float(np.sqrt(np.mean(de**2))),
            "energy_per_atom_mae": float(np.mean(np.abs(de / ds.n_atoms))),
            "energy_per_atom_rmse": float(np.sqrt(np.mean((de / ds.n_atoms) ** 2))),
            "forces_mae": float(np.mean(np.abs(df))), "forces_rmse": float(np.sqrt(np.mean(df**2)))}


def rotational_spread(params, config, ds, n_rotations=8, seed=1234, memory=averaging.DEFAULT_MEMORY_MB):
    """Mean over structures of the std over fixed seeded rotations of E (eV) and of the
    back-rotated forces (eV/Å): 0 for an exactly invariant model."""
    rots = np.asarray(random_rotations(jax.random.PRNGKey(seed), n_rotations))
    e_all, f_all = [], []
    for rot in rots:
        part = ds._replace(positions=ds.positions @ rot.T, cells=ds.cells @ rot.T)
        e, f = evaluate(params, config, part, memory=memory)
        e_all.append(e)
        f_all.append(f @ rot)  # back to the unrotated frame
    f_std = averaging.spread(np.array(f_all))[ds.atom_mask]
    return float(np.mean(averaging.spread(np.array(e_all)))), float(np.mean(f_std))


def split(n, n_test, val_fraction, seed):
    """Seeded (train, validation, test) index arrays."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(val_fraction * (n - n_test))))
    if n - n_test - n_val < 1:
        raise InputError(f"{n} structures are too few for {n_test} test and {n_val} validation structures")
    return np.sort(order[n_test + n_val:]), np.sort(order[n_test:n_test + n_val]), np.sort(order[:n_test])


def fit(params, config, train, val, epochs, batch_size=4, learning_rate=1e-3, energy_weight=0.01,
        augment=True, inversion=False, seed=0, state=None, on_epoch=None, memory=TRAIN_MEMORY_MB):
    """Train; returns (best params by validation force MAE, history, state for resuming).

    memory: MB of work space; a batch_size whose training step needs more is an InputError,
    validation is evaluated in batches that fit it.

    state: a previous run's state (params, opt_state leaves, epoch, history) to resume from.
    on_epoch(epoch, record, best, params): called after every epoch (progress, checkpoints).
    """
    steps_per_epoch = max(1, int(np.ceil(len(train.energy) / batch_size)))
    optimizer = make_optimizer(learning_rate, epochs * steps_per_epoch, warmup=min(200, steps_per_epoch * 2))
    opt_state = optimizer.init(params)
    first_epoch, history, best, norms = 0, [], (np.inf, params), initial_norms(train, len(config.species))
    if state is not None:
        params = state["params"]
        leaves = jax.tree_util.tree_leaves(opt_state)
        opt_state = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(opt_state),
                                                 [jnp.asarray(a) for a in state["opt_state"]][:len(leaves)])
        first_epoch, history = int(state["epoch"]), list(state["history"])
        norms = np.asarray(state.get("norms", norms), float)
        best = (float(state["best_forces_mae"]), state["best_params"])
    rng = np.random.default_rng(seed + first_epoch)
    key = jax.random.PRNGKey(seed)
    n_atoms, n_slots = train.neighbors.mask.shape[1:]
    dtype = jnp.result_type(float)
    most = averaging.per_call(memory, config, n_atoms, n_slots, jnp.dtype(dtype).itemsize, averaging.TRAIN_FACTOR)
    if batch_size > most:
        raise InputError(f"a training batch of {batch_size} structures of {n_atoms} atoms ({n_slots} neighbour slots) "
                         f"needs more than --memory {memory} MB of work space (at most {most} fit): "
                         "lower --batch-size or raise --memory")
    slots, shapes = slots_needed(train), block_slots(train, BLOCKS)
    for epoch in range(first_epoch, epochs):
        losses = []
        for idx in batches(rng.permutation(len(train.energy)), slots, batch_size, rng):
            key, sub = jax.random.split(jax.random.fold_in(key, epoch))
            params, opt_state, loss, mses = train_step(params, config, optimizer, opt_state, sub,
                                                       batch_arrays(train, idx, dtype, slots=shapes), energy_weight,
                                                       jnp.asarray(norms, dtype), inversion, augment)
            norms = NORM_DECAY * norms + (1 - NORM_DECAY) * np.asarray(mses)
            losses.append(float(loss))
        e, f = evaluate(params, config, val, memory=memory)
        record = {"epoch": epoch + 1, "loss": float(np.mean(losses)), **errors(val, e, f)}
        record["rot_std_energy"], record["rot_std_forces"] = rotational_spread(params, config, subset(val, np.arange(min(4, len(val.energy)))),
                                                                          memory=memory)
        history.append(record)
        if record["forces_mae"] < best[0]:
            best = (record["forces_mae"], params)
        state = {"params": params, "opt_state": jax.tree_util.tree_leaves(opt_state), "epoch": epoch + 1,
                 "history": history, "best_forces_mae": best[0], "best_params": best[1], "norms": norms}
        if on_epoch:
            on_epoch(record, best, state)
    return best[1], history, state


RESUME_OPTIONS = {"seed": "--seed", "augment": "--no-augment", "inversion": "--inversion",
                  "energy_weight": "--energy-weight", "learning_rate": "--learning-rate", "batch_size": "--batch-size"}


def check_resume(ckpt_meta, resume, config, asked, digest, the_split, settings):
    """InputError unless a checkpoint continues with what it was started with: the same structures
    and split (else test structures would be trained on), architecture and optimizer settings;
    only the number of epochs may change."""
    if ckpt_meta.get("data_sha256", digest) != digest:
        raise InputError("was trained on another structure file: resume with the same DATA", resume)
    if ckpt_meta.get("split", the_split) != the_split:
        raise InputError("was trained on another split of these structures: training on would use its test "
                         "structures; resume with its --seed, --n-test and --val-fraction", resume)
    if config.to_dict() != asked.to_dict():
        from .config import PRESETS, preset

        same = [name for name in PRESETS
                if preset(name, config.species, cutoff=config.cutoff).to_dict() == config.to_dict()]
        started = f"--preset {same[0]} --cutoff {config.cutoff:g}" if same else "another architecture"
        raise InputError(f"was started with {started}, not what --preset and --cutoff ask for: resume with the "
                         "same", resume)
    for key, option in RESUME_OPTIONS.items():
        if key in ckpt_meta and ckpt_meta[key] != settings[key]:
            raise InputError(f"was started with {key} = {ckpt_meta[key]!r}, not {settings[key]!r}: resume with the "
                             f"same {option} (only --epochs may change)", resume)


def run(path, preset="small", cutoff=4.0, epochs=100, batch_size=2, learning_rate=1e-3, energy_weight=0.01,
        augment=True, inversion=False, n_test=20, val_fraction=0.1, seed=0, energy_key="energy",
        forces_key="forces", resume=None, memory=2 * averaging.DEFAULT_MEMORY_MB, save=None, progress=None,
        record=None, init=None):
    """The whole training job on the labelled structures of `path` (extxyz): read, split, fit,
    re-fit the reference energies, test. `save(config, params, meta, state)` is called after
    every epoch (state = the resumable training state) and once at the end (state None);
    `progress(message or epoch record)` reports; `resume` is a checkpoint file; `record` extra
    metadata (command line, ...); `init` a model file to start from (its architecture and parameters; a
    new optimizer and schedule: a further training stage). The metadata lists the stages (epochs, CPU
    and wall seconds, command) of the model's whole history and their totals.
    Returns the test errors (eV, eV/Å) or None without a test set."""
    import os
    import time

    from . import data as datamod
    from . import modelfile
    from .config import preset as make_config

    frames, energies, forces = datamod.read(path, energy_key, forces_key)
    config = asked = make_config(preset, sorted({int(z) for a in frames for z in a.numbers}), cutoff=cutoff)
    state, earlier, start = None, [], None
    if init:
        config, start, init_meta = modelfile.load(init)
        earlier = list(init_meta.get("stages") or [{"epochs": init_meta.get("epochs"), "cpu_s": None,
                                                     "command": init_meta.get("command")}])
    if resume:
        config, state, ckpt_meta = modelfile.load_checkpoint(resume)
        earlier = list(ckpt_meta.get("stages", [{}])[:-1])
        state = {**state, "params": jax.tree_util.tree_map(jnp.asarray, state["params"]),
                 "best_params": jax.tree_util.tree_map(jnp.asarray, state["best_params"])}
    ds = datamod.build(frames, energies, forces, config.species, config.cutoff)
    train_idx, val_idx, test_idx = split(len(frames), n_test, val_fraction, seed)
    train, val = subset(ds, train_idx), subset(ds, val_idx)
    digest = modelfile.sha256_hex(path)
    the_split = {"train": train_idx.tolist(), "validation": val_idx.tolist(), "test": test_idx.tolist()}
    settings = {"seed": seed, "augment": augment, "inversion": inversion, "energy_weight": energy_weight,
                "learning_rate": learning_rate, "batch_size": batch_size}
    if resume:
        check_resume(ckpt_meta, resume, config, asked, digest, the_split, settings)
    if start is not None:
        if init_meta.get("data_sha256") == digest and init_meta.get("split", the_split) != the_split:
            raise InputError("was trained on another split of these structures: training on would use its test "
                             "structures; give the --seed, --n-test and --val-fraction it was trained with", init)
        params = jax.tree_util.tree_map(jnp.asarray, start)
        reference, scale = np.asarray(start["output"]["reference"], float), float(start["output"]["scale"])
    else:
        reference, scale = fit_output(train, len(config.species))
        params = model.init(jax.random.PRNGKey(seed), config)
        params["output"] = {"scale": np.asarray(scale), "reference": np.asarray(reference)}
    meta = {"data": os.path.abspath(path), "data_sha256": digest, **(record or {}), "split": the_split,
            **settings, "reference_energies_eV": reference.tolist(), "output_scale": scale}
    report = progress or (lambda _: None)
    report(f"{len(frames)} structures: {len(train_idx)} train, {len(val_idx)} validation, {len(test_idx)} test; "
           f"species {list(config.species)}; " + (f"from {init}" if init else f"preset {preset}"))
    clock = (time.process_time(), time.perf_counter(), (state or {}).get("cpu_s", 0.0), (state or {}).get("wall_s", 0.0))

    def stages(n_epochs):
        """The training stages so far (earlier models' and this run's) and their totals."""
        cpu_s, wall_s = clock[2] + time.process_time() - clock[0], clock[3] + time.perf_counter() - clock[1]
        done = earlier + [{"epochs": n_epochs, "cpu_s": cpu_s, "wall_s": wall_s, "command": meta.get("command")}]
        return {"stages": done, "cumulative_epochs": sum(int(d.get("epochs") or 0) for d in done),
                "cumulative_cpu_s": sum(float(d.get("cpu_s") or 0.0) for d in done),
                "cpu_s_recorded": all(d.get("cpu_s") is not None for d in done)}

    def on_epoch(rec, best, st):
        report(rec)
        if save:
            so_far = stages(rec["epoch"])
            st["cpu_s"], st["wall_s"] = so_far["stages"][-1]["cpu_s"], so_far["stages"][-1]["wall_s"]  # for --resume
            save(config, best[1], {**meta, "history": st["history"], "epochs": rec["epoch"], **so_far}, st)

    best, history, _ = fit(params, config, train, val, epochs, batch_size, learning_rate, energy_weight,
                           augment, inversion, seed, state, on_epoch, memory)
    best = refit_reference(best, config, train, memory)
    meta["reference_energies_eV"] = np.asarray(best["output"]["reference"], float).tolist()
    err = None
    if test_idx.size:
        test = subset(ds, test_idx)
        err = meta["test_errors"] = errors(test, *evaluate(best, config, test, memory=memory))
    if save:
        save(config, best, {**meta, "history": history, "epochs": epochs, **stages(epochs)}, None)
    return err
