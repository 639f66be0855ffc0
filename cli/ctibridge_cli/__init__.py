"""The ``ctibridge`` operators' CLI (``main``) and the local stack's demo seeding (``demo``)."""
