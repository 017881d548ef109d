"""The JSON chat protocol of docs/protocol.md, independent of the transport that carries it.

`session.ChatSession` routes one connection's frames and events; `cursor` keeps each subscription's
seq order; `handlers/` decode a feature's frames and call the domain; `repair` is the per-node loop
that fills what live delivery lost. This package's `__init__` imports nothing, so that
`closecodes` can be read before Django is set up (config/server.py).
"""
