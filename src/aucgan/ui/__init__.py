"""The interactive AU editor in the browser (optional extra ``aucgan[ui]``).

:mod:`aucgan.ui.core` holds everything that is not Gradio: sources (test identities, synthetic identities,
uploaded map sets), the edit itself (one model load, the source encoded once, then only the decoder runs per slider
move), the views (albedo, shaded displacement, normal map, relit render, change heatmap with AU footprints
outlined) and the downloads. :mod:`aucgan.ui.app` builds the Gradio page around it; its callbacks are plain
functions of plain values, tested without a browser.
"""
