"""Run configs written by older versions, in today's layout: a resumed or re-loaded run must read as what it
trained with (the flat generator keys before ``generator.variant``, fields added since)."""

from __future__ import annotations

import copy

from aucgan.config.loading import from_dict, to_dict
from aucgan.config.schema import LEGACY_GENERATOR_KEYS, VARIANT_CONFIGS, ConfigError, TrainConfig


def complete_run_config(data: dict, schema: type | None = None) -> dict:
    """A stored run config as today's code writes it: an older layout upgraded (:func:`upgrade_run_config`) and
    the fields added since filled in with their defaults, which is what those runs trained with (a field is only
    ever added with a default that keeps the old behaviour). Used to compare a resumed run's config."""
    return to_dict(from_dict(schema or TrainConfig, upgrade_run_config(data), "the run's config.json"))


def upgrade_run_config(data: dict) -> dict:
    """A run's ``config.json`` in today's layout: one written before ``generator.variant`` existed (flat keys
    ``generator.local_regions``, ``region_styles``, ``decomposed: true``, ``albedo_aus``, ...) gets its variant
    and that variant's settings; the other variants' flat keys (inert then) are dropped. Anything else is
    returned unchanged."""
    gen = data.get("generator") if isinstance(data, dict) else None
    if not isinstance(gen, dict) or "variant" in gen:
        return data
    if not (set(gen) & (set(LEGACY_GENERATOR_KEYS) - {"decomposed"}) or isinstance(gen.get("decomposed"), bool)):
        return data
    switched = [v for v, on in (("regional", bool(gen.get("local_regions"))),
                                ("sean", gen.get("region_styles") is True),
                                ("decomposed", gen.get("decomposed") is True)) if on]
    if len(switched) > 1:
        raise ConfigError(f"generator: this older config switches on {' and '.join(switched)} together, which "
                          "never built")
    variant = switched[0] if switched else "map"
    out = copy.deepcopy(data)
    new_gen = {k: v for k, v in gen.items() if k not in LEGACY_GENERATOR_KEYS}
    new_gen["variant"] = variant
    for name in VARIANT_CONFIGS:                                       # as to_dict writes them: None unless chosen
        new_gen[name] = None if name != variant else {
            new: copy.deepcopy(gen[old]) for old, (v, new) in LEGACY_GENERATOR_KEYS.items()
            if v == variant and new is not None and old in gen}
    out["generator"] = new_gen
    return out
