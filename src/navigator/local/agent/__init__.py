"""Navigator's node agent: the local cluster's stand-in for kubelet + container runtime.

One agent per node registers a Node, heartbeats a Lease, and runs the pods
bound to its node as processes in Linux namespaces (see docs/design/0003-node-agent.md).
"""
