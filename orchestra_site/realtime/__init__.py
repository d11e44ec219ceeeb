"""Live events: the one module that sends them, the consumer base, the outbox relay and the watch
that closes sockets of revoked keys."""
