"""Real spherical harmonics of unit vectors (l = 1..L_MAX), in the order LM.

Real orthonormal Y_lm built from SciPy's complex ones: sqrt(2) (-1)^m Re Y_l|m| for m > 0,
sqrt(2) (-1)^m Im Y_l|m| for m < 0, Y_l0 for m = 0; integrated over the sphere, Y_lm Y_l'm'
gives delta_ll' delta_mm'. Used for the pair-direction moments of the RDF and the rotational
channels of a model's energy.
"""
import numpy as np

L_MAX = 4
LM = [(l, m) for l in range(1, L_MAX + 1) for m in range(-l, l + 1)]


def real_spherical_harmonics(unit):
    """Real orthonormal Y_lm (l = 1..4, m = -l..l in LM order) of unit vectors (n, 3) -> (n, 24)."""
    from scipy.special import sph_harm_y  # only the moments need it: keep start-up short

    theta = np.arccos(np.clip(unit[:, 2], -1.0, 1.0))
    phi = np.arctan2(unit[:, 1], unit[:, 0])
    out = np.empty((len(unit), len(LM)))
    for c, (l, m) in enumerate(LM):
        y = sph_harm_y(l, abs(m), theta, phi)
        if m > 0:
            out[:, c] = np.sqrt(2) * (-1) ** m * y.real
        elif m < 0:
            out[:, c] = np.sqrt(2) * (-1) ** m * y.imag
        else:
            out[:, c] = y.real
    return out
