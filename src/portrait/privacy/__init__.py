"""Privacy operations on one workspace: the key the PII is under, erasure of a person, the
residue check, retention (see docs/privacy.md). ``ws.privacy`` is the service."""
