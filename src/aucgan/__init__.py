"""aucgan: facial detail that follows facial expression (AU-conditioned generation of UV maps)."""

__version__ = "0.1.0"
