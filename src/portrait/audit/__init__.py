"""The audit log: who read or changed what about which persons, chained so edits show.

``context`` says who is calling (the REST server sets it per request, the CLI per command);
``recorded`` wraps the facade's audited methods (the one place entries are written from);
``service.AuditService`` writes, lists and verifies entries over ``store.audit``; ``chain``
is the hashing, pure.
"""
