"""A small read-only HTTP API over serving.recommendations, for clients that don't speak SQL."""
