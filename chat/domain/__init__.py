"""The rules: services (writes: check -> do -> announce after commit), selectors (reads with the
access rule), the domain errors, and the group commit of sends."""
