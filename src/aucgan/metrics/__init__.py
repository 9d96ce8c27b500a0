"""Measurement: AU agreement statistics and the evaluation metrics of a trained generator.

``registry`` (names -> metrics, the JSONL runner), ``context`` (:class:`EvalContext`), one module per
question (``paired``, ``control``, ``spatial``, ``identity``, ``realism``/``swd``, ``discriminator``),
``truth`` (synthetic ground truth) and ``evaluate`` (what ``aucgan eval`` runs). Formulas: docs/metrics.md.
Submodules are imported where used, so ``aucgan.metrics.agreement`` stays light.
"""
