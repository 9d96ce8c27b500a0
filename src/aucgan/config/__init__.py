"""Configurations: the schema (:mod:`~aucgan.config.schema`), loading presets and overrides
(:mod:`~aucgan.config.loading`) and the upgrade of older run configs (:mod:`~aucgan.config.upgrade`)."""
