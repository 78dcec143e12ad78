"""Cassandra's part of the operator: its snapshot (`observed`), its safety
rules (`predicates`), its pure `decide`, its builders, the rollout's gates,
authentication, CQL, TLS, storage growth, pool removal and replacement, its
status, and the reconcile that runs them (`reconcile`). What every database
shares is `navigator.operator.core`; see docs/design/0008-engine-neutral-split.md."""
