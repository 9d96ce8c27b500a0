"""Run directories: the names of their files and the one writer and one reader of each.

A training run (``aucgan train``; ``aucgan train-deca`` adds ``decoder.json``)::

    RUN/config.json            the resolved config, written before the first step (files.write_config)
    RUN/data.json              {"path": ...}: the data set it trained on (evaluation and the editor default to it)
    RUN/layout.json            the map space, when the data set names one (FLAME UV, ...)
    RUN/log.txt                a copy of everything printed (folder.Logger)
    RUN/stats.jsonl            one JSON object per logged step (stats.StatsWriter, stats.read_stats)
    RUN/checkpoints/step-NNNNNN/   G, G_ema, D, optimizers, RNG (checkpoints)
    RUN/samples/, RUN/metric-<name>.jsonl, ...

An AU-estimator run (``aucgan train-au``)::

    RUN/config.json            the resolved AUNetTrainConfig
    RUN/aunet.safetensors      the estimator's weights (the whole run is this one snapshot)
    RUN/metrics.json           its held-out agreement
    RUN/stats.jsonl

:mod:`aucgan.runs` builds the networks of a run from these files. Weights are safetensors, everything else
JSON: nothing is unpickled.
"""
