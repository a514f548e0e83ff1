"""Sampling settings (`Sampler`) and constraints (`TokenConstraints`) of the token priors, as objects."""

import keras

from vqkeras.samplers.sampler import Sampler
from vqkeras.samplers.sampler import SamplerTensors
from vqkeras.samplers.token_constraints import ConstraintTensors
from vqkeras.samplers.token_constraints import TokenConstraints

SAMPLER_OPTIONS = ("temperature", "top_k", "top_p", "guidance_scale")
CONSTRAINT_OPTIONS = ("prefix", "known_tokens", "known_mask", "logit_bias")


def get(identifier):
    """A `Sampler` from `None` (the defaults), a `Sampler`, or its config (`get_config()` or serialized)."""
    if identifier is None:
        return Sampler()
    if isinstance(identifier, Sampler):
        return identifier
    if isinstance(identifier, dict):
        if "class_name" in identifier:
            return keras.saving.deserialize_keras_object(identifier)
        return Sampler.from_config(identifier)
    raise ValueError(f"sampler must be a vqkeras.samplers.Sampler, its config dict or None. Received: "
                     f"sampler={identifier!r}")


def build_sampler(sampler=None, **options):
    """A `Sampler` from `sampler` (see `get`) or from its fields as keywords, not both; other keywords are refused.

    Example:

    >>> build_sampler(temperature=0.9, top_k=10) == build_sampler(Sampler(0.9, top_k=10))
    True
    """
    _refuse_unknown(options, SAMPLER_OPTIONS)
    return _build(sampler, options, name="sampler", cls=Sampler, fields=SAMPLER_OPTIONS, convert=get)


def from_options(sampler=None, constraints=None, **options):
    """`(Sampler, TokenConstraints)` of a sampling call that takes either objects or their fields as keywords.

    `prior.sample(n, temperature=0.9, prefix=p)` and `prior.sample(n, Sampler(0.9), constraints=
    TokenConstraints(prefix=p))` are the same call; giving an object and one of its fields is refused.
    """
    _refuse_unknown(options, SAMPLER_OPTIONS + CONSTRAINT_OPTIONS)
    sampler_options = {k: v for k, v in options.items() if k in SAMPLER_OPTIONS}
    return (build_sampler(sampler, **sampler_options),
            _build(constraints, options, name="constraints", cls=TokenConstraints, fields=CONSTRAINT_OPTIONS,
                   convert=_check_constraints))


def _refuse_unknown(options, known):
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise TypeError(f"Unexpected sampling argument(s): {', '.join(unknown)}. Expected some of {', '.join(known)}.")


def _build(given, options, *, name, cls, fields, convert):
    if given is None:
        return cls(**{k: options[k] for k in fields if k in options})  # an explicit None gets the class's check
    settings = [k for k in fields if options.get(k) is not None]
    if settings:
        raise ValueError(f"Give {name}= or its fields ({', '.join(settings)}), not both. Received: {name}={given!r} "
                         f"and {', '.join(f'{k}=...' for k in settings)}")
    return convert(given)


def _check_constraints(constraints):
    if not isinstance(constraints, TokenConstraints):
        raise ValueError(f"constraints must be a vqkeras.samplers.TokenConstraints or None. Received: "
                         f"constraints={constraints!r}")
    return constraints
