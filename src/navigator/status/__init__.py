"""`navigator status`: a human-friendly view of a CassandraCluster.

`view` builds frozen dataclasses from the API objects, `render` turns them
into rich tables or JSON, `cli` reads the API and prints; only `cli` does I/O.
"""
