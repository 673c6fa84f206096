"""Use cases: what the service does, independent of HTTP, queues and storage technology."""
