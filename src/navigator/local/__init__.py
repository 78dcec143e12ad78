"""The embedded local cluster: a real Kubernetes control plane built from upstream sources."""
