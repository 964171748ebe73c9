"""Consent per purpose (marketing, personalisation, analytics): the ``[consent]`` settings, the
recorded answers (``portrait.store.purposes``) and the policy every surface asks
(``portrait.consent.policy``). Consent per channel stays with the campaigns."""
