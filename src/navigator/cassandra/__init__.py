"""Apache Cassandra runtime: the fetched distribution, its config and its image."""
