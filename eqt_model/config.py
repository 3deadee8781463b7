"""Model hyper-parameters: a frozen, typed dataclass; unknown keys are rejected."""
import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Literal

from eqt_analysis.errors import InputError

# inclusive bounds of the integer hyper-parameters: sane sizes, and a bound on the cost of
# checking a model file's parameters against its configuration
LIMITS = {"d_model": (1, 4096), "n_message_layers": (1, 16), "n_transformer_layers": (1, 16),
          "n_heads": (1, 64), "d_feedforward": (1, 16384), "n_radial": (0, 1024)}
CUTOFF_RANGE = (0.5, 12.0)  # Å
ACTIVATIONS = ("silu", "gelu")


def _brief(value, width=40):
    """repr(value), cut to `width` characters (error messages stay one short line)."""
    try:
        text = repr(value)
    except ValueError:  # an int too long to print
        text = f"<{type(value).__name__}>"
    return text if len(text) <= width else text[:width - 3] + "..."


@dataclass(frozen=True)
class ModelConfig:
    """PET-like transformer potential.

    species: atomic numbers the model knows; d_model: token width; n_message_layers
    message-passing layers of n_transformer_layers transformer layers each; n_heads attention
    heads; d_feedforward: feed-forward width; cutoff r_c and cutoff_width delta (Å): the
    smooth cutoff is 1 below r_c - delta and falls to 0 at r_c with a cosine. n_radial > 0
    adds that many Gaussians of the edge length (centres evenly spaced on [0, r_c]) to the
    edge-token input beside the raw vector and length: sharper radial features, faster training.

    Every field is checked on construction (InputError with a one-line message): integers are
    real ints within LIMITS (n_radial may be 0), d_model a multiple of n_heads; species distinct
    atomic numbers 1..118; cutoff finite in CUTOFF_RANGE (0.5 to 12 Å), 0 < cutoff_width < cutoff.
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
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or not low <= value <= high:
                raise InputError(f"{name} must be an integer in {low}..{high}, got {_brief(value)}")
            object.__setattr__(self, name, int(value))
        if self.d_model % self.n_heads:
            raise InputError(f"d_model {self.d_model} is not a multiple of n_heads {self.n_heads}")
        species = self.species
        if (not isinstance(species, (list, tuple)) or not species
                or any(not isinstance(z, numbers.Integral) or isinstance(z, bool) or not 1 <= z <= 118 for z in species)
                or len(set(species)) != len(species)):
            raise InputError(f"species must be distinct atomic numbers 1..118, got {_brief(species)}")
        object.__setattr__(self, "species", tuple(int(z) for z in species))
        for name in ("cutoff", "cutoff_width"):
            value = getattr(self, name)
            try:
                number = float(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else math.nan
            except OverflowError:  # an int beyond the float range
                number = math.nan
            if not math.isfinite(number):
                raise InputError(f"{name} must be a finite number (Å), got {_brief(value)}")
            object.__setattr__(self, name, number)
        low, high = CUTOFF_RANGE
        if not low <= self.cutoff <= high:
            raise InputError(f"cutoff {self.cutoff:g} Å is outside {low:g}..{high:g} Å")
        if not 0 < self.cutoff_width < self.cutoff:
            raise InputError(f"need 0 < cutoff_width < cutoff, got cutoff_width {self.cutoff_width:g} Å")
        if not isinstance(self.activation, str) or self.activation not in ACTIVATIONS:
            raise InputError(f"unknown activation {_brief(self.activation)}; choose from {', '.join(ACTIVATIONS)}")

    @classmethod
    def from_dict(cls, values):
        """Build from a plain dict (as stored in model.pkl); unknown keys are an error."""
        if not isinstance(values, dict):
            raise InputError(f"model hyper-parameters must be a dict, got {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise InputError(f"unknown model hyper-parameters: {_brief(', '.join(sorted(unknown)), 80)}")
        return cls(**values)

    def to_dict(self):
        out = dataclasses.asdict(self)
        out["species"] = list(self.species)
        return out


PRESETS = {
    # trains on a laptop CPU in minutes to an hour
    "small": dict(d_model=32, n_message_layers=2, n_transformer_layers=1, n_heads=4, d_feedforward=64,
                  n_radial=16),
    # twice as wide and one layer deeper: for the 80 meV/Å goal of the example model (the small one underfits)
    "medium": dict(d_model=64, n_message_layers=3, n_transformer_layers=1, n_heads=4, d_feedforward=128,
                   n_radial=16),
    # the configuration of Langer, Pozdnyakov, Ceriotti (2024)
    "paper": dict(d_model=128, n_message_layers=4, n_transformer_layers=2, n_heads=4, d_feedforward=512),
}


def preset(name, species, **overrides):
    """A ModelConfig from a preset name ('small', 'medium' or 'paper') for the given species."""
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return ModelConfig(species=tuple(species), **{**PRESETS[name], **overrides})
