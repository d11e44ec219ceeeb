"""What every HTTP API of the hub shares: JSON errors, bounded JSON bodies, the schema and its
docs page, the health check."""
