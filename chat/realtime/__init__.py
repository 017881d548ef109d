"""Plumbing that knows no rules: the channel layer, group names, wire events, presence, the Redis
client, per-event-loop singletons and metrics."""
