"""The pilot's Cassandra adapter: JMX over HTTP (Jolokia) facts and operations."""
