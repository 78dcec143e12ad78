"""Navigator: run distributed databases on Kubernetes as safely as an expert would by hand."""

__version__ = "0.1.0"
