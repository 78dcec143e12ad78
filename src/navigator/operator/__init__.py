"""The Cassandra operator: pure builders and decisions, plus the kopf wiring.

Layers: `builders`, `predicates`, `decide` and `status` are pure (no client);
`reconcile` gathers inputs, applies and records; `main` wires kopf and the CLI.
"""
