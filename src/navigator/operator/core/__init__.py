"""The operator's engine-neutral core: the API server door, leadership,
workers, metrics, pods' problems, intents, revisions and lost volumes. No
database's package is imported here (tests/unit/test_layers.py); see
docs/design/0008-engine-neutral-split.md."""
