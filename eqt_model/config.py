"""Model hyper-parameters: a frozen, typed dataclass; unknown keys are rejected."""
import dataclasses
from dataclasses import dataclass
from typing import Literal

from eqt_analysis.errors import InputError


@dataclass(frozen=True)
class ModelConfig:
    """PET-like transformer potential.

    species: atomic numbers the model knows; d_model: token width; n_message_layers
    message-passing layers of n_transformer_layers transformer layers each; n_heads attention
    heads; d_feedforward: feed-forward width; cutoff r_c and cutoff_width delta (Å): the
    smooth cutoff is 1 below r_c - delta and falls to 0 at r_c with a cosine. n_radial > 0
    adds that many Gaussians of the edge length (centres evenly spaced on [0, r_c]) to the
    edge-token input beside the raw vector and length: sharper radial features, faster training.
    """

    species: tuple = (1, 8)
    d_model: int = 32
    n_message_layers: int = 2
    n_transformer_layers: int = 1
    n_heads: int = 4
    d_feedforward: int = 64
    cutoff: float = 4.0
    cutoff_width: float = 0.2
    activation: Literal["silu", "gelu"] = "silu"
    n_radial: int = 0

    def __post_init__(self):
        if self.d_model % self.n_heads:
            raise InputError(f"d_model {self.d_model} is not a multiple of n_heads {self.n_heads}")
        if not 0 < self.cutoff_width < self.cutoff:
            raise InputError("need 0 < cutoff_width < cutoff")
        if self.n_radial < 0:
            raise InputError("n_radial must be >= 0")
        if self.activation not in ("silu", "gelu"):
            raise InputError(f"unknown activation {self.activation!r}")
        object.__setattr__(self, "species", tuple(int(z) for z in self.species))

    @classmethod
    def from_dict(cls, values):
        """Build from a plain dict (as stored in model.pkl); unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise InputError(f"unknown model hyper-parameters: {', '.join(sorted(unknown))}")
        return cls(**values)

    def to_dict(self):
        out = dataclasses.asdict(self)
        out["species"] = list(self.species)
        return out


PRESETS = {
    # trains on a laptop CPU in minutes to an hour
    "small": dict(d_model=32, n_message_layers=2, n_transformer_layers=1, n_heads=4, d_feedforward=64,
                  n_radial=16),
    # the configuration of Langer, Pozdnyakov, Ceriotti (2024)
    "paper": dict(d_model=128, n_message_layers=4, n_transformer_layers=2, n_heads=4, d_feedforward=512),
}


def preset(name, species, **overrides):
    """A ModelConfig from a preset name ('small' or 'paper') for the given species."""
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return ModelConfig(species=tuple(species), **{**PRESETS[name], **overrides})
