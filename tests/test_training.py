"""eqt_model.training's fast path: neighbour slots trimmed to what a batch needs, slot-sorted batches."""
import dataclasses

import jax
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)  # exact comparisons, not float32 noise

import jax.numpy as jnp  # noqa: E402

from eqt_model import data as datamod  # noqa: E402
from eqt_model import model, training  # noqa: E402
from eqt_model.config import ModelConfig  # noqa: E402

from .conftest import water_molecules, wrap  # noqa: E402

CONFIG = ModelConfig(species=(1, 8), d_model=16, n_message_layers=2, n_transformer_layers=1, n_heads=2,
                     d_feedforward=32, cutoff=3.5, cutoff_width=0.3, n_radial=4)


def _boxes():
    """Six periodic water boxes of 8 molecules at densities from 0.5 to 1.3 g/cm^3 (triclinic and
    orthorhombic), labelled by ASE's Lennard-Jones: structures that need different numbers of neighbour slots."""
    from ase import Atoms
    from ase.calculators.lj import LennardJones

    rng = np.random.default_rng(7)
    frames, energies, forces = [], [], []
    for k, density in enumerate((0.5, 0.7, 0.8, 1.0, 1.15, 1.3)):
        edge = (8 * 18.015 / 0.6022 / density) ** (1 / 3)
        cell = np.eye(3) * edge if k % 2 else np.array([[edge, 0, 0], [0.3 * edge, edge, 0], [0.1 * edge, -0.2 * edge, edge]])
        cell *= (8 * 18.015 / 0.6022 / density / abs(np.linalg.det(cell))) ** (1 / 3)
        pos, numbers = water_molecules(8, cell, rng)
        atoms = Atoms(numbers=numbers, positions=wrap(pos, cell), cell=cell, pbc=True)
        atoms.calc = LennardJones(sigma=2.5, epsilon=0.01, rc=4.0)
        energies.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())
        frames.append(atoms)
    return frames, np.array(energies), forces


@pytest.fixture(scope="module")
def dataset():
    frames, energies, forces = _boxes()
    return datamod.build(frames, energies, forces, CONFIG.species, CONFIG.cutoff, capacity=64)


def test_trimmed_slots_give_the_same_energies_and_forces(dataset):
    """Cutting the padded slots to what the structures need changes nothing but the cost; the
    reverse edges stay each other's reverse after re-encoding."""
    needed = datamod.slots_needed(dataset)
    assert len(set(needed)) > 2 and needed.max() < 64  # the boxes differ, all less than the padding
    params = model.init(jax.random.PRNGKey(0), CONFIG, zero_heads=False)
    e_full, f_full = training.predict(params, CONFIG, training.graphs(dataset), jnp.asarray(dataset.atom_mask))
    for k in (int(np.argmin(needed)), int(np.argmax(needed))):
        one = datamod.trim(datamod.subset(dataset, [k]))
        assert one.neighbors.mask.shape[2] == needed[k]
        e, f = training.predict(params, CONFIG, training.graphs(one), jnp.asarray(one.atom_mask))
        np.testing.assert_allclose(e, e_full[k:k + 1], rtol=1e-12)
        np.testing.assert_allclose(f[0], f_full[k], rtol=1e-9, atol=1e-11)
        nb = one.neighbors
        n, slots = nb.mask.shape[1:]
        flat_rev = nb.reverse[0][nb.mask[0]]
        assert np.array_equal(nb.reverse[0].reshape(-1)[flat_rev], np.flatnonzero(nb.mask[0].reshape(-1)))
        assert np.array_equal(nb.neighbors[0].reshape(-1)[flat_rev], np.repeat(np.arange(n), nb.mask[0].sum(1)))


def test_batches_cover_the_epoch_and_group_similar_structures():
    slots = np.array([40, 28, 36, 28, 44, 32, 40, 28, 36, 32, 44, 28, 36, 40, 32])
    rng = np.random.default_rng(0)
    order = rng.permutation(len(slots))
    steps = training.batches(order, slots, 2, rng)
    assert len(steps) == 8 and all(len(s) == 2 for s in steps)
    counts = np.bincount(np.concatenate(steps), minlength=len(slots))
    assert counts.min() == 1 and counts.sum() == 16  # every structure, one twice to fill the short batch
    full = [s for s in steps if not (set(s) & {order[0]})]  # batches without the repeated structure
    paired = [order[b:b + 2] for b in range(0, 14, 2)]
    spread = sum(slots[s].max() - slots[s].min() for s in full)
    assert spread <= 4 * len(full)  # sorted: neighbours in slot order share a batch
    assert spread < sum(slots[s].max() - slots[s].min() for s in paired)


def test_blocks_hold_every_edge_once_with_its_reverse(dataset):
    """data.blocked: atoms sorted by neighbour count, the same edges (as vectors) in every structure, the
    reverse of every valid edge is valid and reverses back; block_slots holds every batch of its
    slot count, and slots that are too few are refused."""
    ladder = datamod.block_slots(dataset, training.BLOCKS)
    needed = datamod.slots_needed(dataset)
    assert sorted(ladder) == sorted(set(needed.tolist()))
    for index in ([0, 1], [2, 5], list(range(len(needed)))):
        part = datamod.subset(dataset, index)
        for slots in (None, ladder[int(needed[index].max())]):
            blocks = datamod.blocked(part, training.BLOCKS, slots)
            masks, reverse = blocks.neighbors.mask, blocks.neighbors.reverse
            counts = np.concatenate([m.sum(-1) for m in masks], axis=1)
            assert np.all(np.diff(counts, axis=1) >= 0)  # sorted by neighbour count
            flat_mask = np.concatenate([m.reshape(len(index), -1) for m in masks], axis=1)
            flat_rev = np.concatenate([r.reshape(len(index), -1) for r in reverse], axis=1)
            for s in range(len(index)):
                valid = np.flatnonzero(flat_mask[s])
                assert np.all(flat_mask[s][flat_rev[s][valid]])
                assert np.array_equal(flat_rev[s][flat_rev[s][valid]], valid)
            vec_old = [np.sort(np.linalg.norm(part.positions[s][part.neighbors.neighbors[s]] - part.positions[s][:, None]
                                              + part.neighbors.shifts[s] @ part.cells[s], axis=-1)[part.neighbors.mask[s]])
                       for s in range(len(index))]
            for s in range(len(index)):
                x = blocks.positions[s]
                d = np.concatenate([np.linalg.norm(x[nb[s]] - x[lo:lo + len(nb[s]), None] + sh[s] @ blocks.cells[s],
                                                   axis=-1)[m[s]]
                                    for nb, sh, m, lo in zip(blocks.neighbors.neighbors, blocks.neighbors.shifts, masks,
                                                             np.cumsum([0] + [m.shape[1] for m in masks])[:-1])])
                np.testing.assert_allclose(np.sort(d), vec_old[s], rtol=1e-12)
    part = datamod.subset(dataset, [int(np.argmax(needed))])
    too_few = tuple(max(1, k - 4) for k in ladder[int(needed.max())])
    with pytest.raises(ValueError, match="do not hold"):
        datamod.blocked(part, training.BLOCKS, too_few)


def test_a_training_step_on_trimmed_slots_and_on_blocks_equals_the_padded_step(dataset):
    """train_step on the trimmed batch and on the batch in blocks of atoms sorted by neighbour count
    (what fit does) gives the parameters of the padded batch."""
    reference, scale = training.fit_output(dataset, 2)
    config = dataclasses.replace(CONFIG, n_message_layers=1)  # one layer: a quicker compilation
    params = model.init(jax.random.PRNGKey(1), config, zero_heads=False)
    params["output"] = {"scale": jnp.asarray(scale), "reference": jnp.asarray(reference)}
    optimizer = training.make_optimizer(1e-2, 10, 1)
    idx = np.array([1, 4])
    padded = datamod.subset(dataset, idx)
    batches = {"padded": (training.graphs(padded), jnp.asarray(padded.atom_mask), jnp.asarray(padded.energy),
                          jnp.asarray(padded.forces), jnp.asarray(padded.n_atoms, float)),
               "trimmed": training.batch_arrays(dataset, idx, blocks=(1.0,)),
               "blocks": training.batch_arrays(dataset, idx)}
    k_padded = batches["padded"][0].mask.shape[2]
    assert batches["trimmed"][0].mask[0].shape[2] < k_padded
    blocks = batches["blocks"][0].mask
    assert len(blocks) > 1 and blocks[0].shape[2] < blocks[-1].shape[2] <= k_padded
    assert not np.array_equal(batches["blocks"][0].positions, batches["padded"][0].positions)  # atoms reordered
    out = {}
    for name, batch in batches.items():
        p, state = params, optimizer.init(params)
        for step in range(3):
            p, state, loss, mses = training.train_step(p, config, optimizer, state, jax.random.PRNGKey(step), batch,
                                                       0.1, jnp.asarray([1.0, 1.0]), False, True)
        out[name] = (p, float(loss))
    for name in ("trimmed", "blocks"):
        assert out[name][1] == pytest.approx(out["padded"][1], rel=1e-10)
    moved = [np.abs(np.asarray(a) - np.asarray(b)).max() for a, b in
             zip(jax.tree_util.tree_leaves(out["padded"][0]), jax.tree_util.tree_leaves(params))]
    assert max(moved) > 1e-3  # the steps did change the parameters
    for name in ("trimmed", "blocks"):
        for a, b in zip(jax.tree_util.tree_leaves(out[name][0]), jax.tree_util.tree_leaves(out["padded"][0])):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)  # key biases: zero gradient, Adam-amplified noise


def test_init_starts_a_recorded_new_stage_and_keeps_the_split(tmp_path):
    """eqt-train --init MODEL continues MODEL's parameters as a new stage: the metadata lists both stages
    with their epochs and CPU seconds; another split of the same data (a leak of test structures) and
    overwriting MODEL itself are refused."""
    import ase.io
    from click.testing import CliRunner

    from eqt_cli import train as train_cli
    from eqt_model import modelfile

    from .test_model import _tiny_dataset

    frames, energies, forces = _tiny_dataset(8, seed=4)
    for atoms in frames:
        atoms.calc.atoms = atoms
    ase.io.write(tmp_path / "d.xyz", frames)
    args = [str(tmp_path / "d.xyz"), "--n-test", "2", "--val-fraction", "0.2", "--batch-size", "2", "--cutoff", "3.0", "-q"]
    first, second = tmp_path / "a.pkl", tmp_path / "b.pkl"
    assert CliRunner().invoke(train_cli.main, args + ["-o", str(first), "--epochs", "2"]).exit_code == 0
    result = CliRunner().invoke(train_cli.main, args + ["-o", str(second), "--epochs", "1", "--init", str(first)])
    assert result.exit_code == 0, result.output
    _, params_a, meta_a = modelfile.load(first)
    _, params_b, meta_b = modelfile.load(second)
    assert [s["epochs"] for s in meta_b["stages"]] == [2, 1] and meta_b["cumulative_epochs"] == 3
    assert meta_b["stages"][0]["cpu_s"] == meta_a["stages"][0]["cpu_s"] > 0 and meta_b["cpu_s_recorded"]
    assert meta_b["cumulative_cpu_s"] == pytest.approx(meta_a["cumulative_cpu_s"] + meta_b["stages"][1]["cpu_s"])
    assert meta_b["split"] == meta_a["split"]
    assert any(np.abs(np.asarray(a) - np.asarray(b)).max() > 0 for a, b in
               zip(jax.tree_util.tree_leaves(params_a["layers"]), jax.tree_util.tree_leaves(params_b["layers"])))
    leak = CliRunner().invoke(train_cli.main, args[:-1] + ["--seed", "1", "-q", "-o", str(tmp_path / "c.pkl"),
                                                          "--epochs", "1", "--init", str(first)])
    assert leak.exit_code == 2 and "another split" in leak.stderr and not (tmp_path / "c.pkl").exists()
    before = first.read_bytes()
    same = CliRunner().invoke(train_cli.main, args + ["-o", str(first), "--epochs", "1", "--init", str(first)])
    assert same.exit_code == 2 and first.read_bytes() == before


def test_a_file_at_the_checkpoint_path_is_replaced_only_by_naming_its_model(tmp_path, monkeypatch):
    """OUTPUT.ckpt already there: a file that is not an eqt-train checkpoint is refused (and kept); an earlier
    run's checkpoint is refused without -o (continue it with --resume) and replaced when -o names its model."""
    import shutil
    from pathlib import Path

    from click.testing import CliRunner

    from eqt_cli import train as train_cli

    checkpoint = Path(__file__).resolve().parents[1] / "example_data" / "model-stage2.pkl.ckpt"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.xyz").write_text("not read: the outputs are checked first\n")
    (tmp_path / "m.pkl.ckpt").write_text("precious")
    result = CliRunner().invoke(train_cli.main, ["d.xyz", "-o", "m.pkl", "-q"])
    assert result.exit_code == 2 and "not an eqt-train checkpoint" in result.stderr, result.output
    assert (tmp_path / "m.pkl.ckpt").read_text() == "precious"
    shutil.copy(checkpoint, tmp_path / "model.pkl.ckpt")
    result = CliRunner().invoke(train_cli.main, ["d.xyz", "-q"])
    assert result.exit_code == 2 and "--resume" in result.stderr, result.output
    assert (tmp_path / "model.pkl.ckpt").read_bytes() == checkpoint.read_bytes()
    result = CliRunner().invoke(train_cli.main, ["d.xyz", "-o", "model.pkl", "-q"])
    assert "checkpoint" not in result.stderr and "d.xyz" in result.stderr  # past the outputs, refused for its data
