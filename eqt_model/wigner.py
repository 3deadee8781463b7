"""Real Wigner matrices D^l(R) (l = 1..4) of rotations, for the ℓ-resolved rotational variance.

In the basis of real orthonormal spherical harmonics Y_lm (m = -l..l, the order of
eqt_analysis.harmonics.LM), Y_l(R n) = D^l(R) Y_l(n); D^l is orthogonal and D^l(R1 R2) = D^l(R1) D^l(R2).
It is computed as D^l(R)_mm' = 4 pi <Y_lm(R n) Y_lm'(n)> over a Lebedev rule exact to degree 2 L_MAX.
"""
import numpy as np

from eqt_analysis.harmonics import L_MAX, LM, real_spherical_harmonics


def wigner_real(rotations, l_max=L_MAX):
    """{l: (n, 2l + 1, 2l + 1)} for l = 1..l_max of rotations (n, 3, 3)."""
    from scipy.integrate import lebedev_rule

    nodes, weights = lebedev_rule(2 * L_MAX + 1)
    weights = weights / weights.sum()
    y = real_spherical_harmonics(nodes.T)  # (q, 24)
    rotated = np.einsum("kab,qb->kqa", rotations, nodes.T).reshape(-1, 3)
    y_rot = real_spherical_harmonics(rotated).reshape(len(rotations), len(weights), -1)
    out = {}
    for l in range(1, l_max + 1):
        cols = [c for c, (ll, _) in enumerate(LM) if ll == l]
        out[l] = 4 * np.pi * np.einsum("q,kqm,qn->kmn", weights, y_rot[:, :, cols], y[:, cols])
    return out
