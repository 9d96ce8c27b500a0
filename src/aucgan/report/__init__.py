"""The comparison report over runs: metric tables (best marked), per-AU bars, sensitivity maps, AU sweeps and
training curves as a static HTML page plus Markdown (``aucgan compare``)."""
