"""The pilot: the database container's entrypoint, supervisor, reporter and executor.

`core` is database-agnostic (identity, supervision, probes, intents, status);
each database has an adapter package (`cassandra`). Core never imports an adapter.
"""
