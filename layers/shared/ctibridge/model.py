"""``Model``: the base of every ctibridge pydantic model, built on first use.

pydantic builds a model's validator and serializer (its core schema) when the class is defined, which at
import costs about a millisecond per model, and each handler imports many models of routes and events it
never sees (the realtime messages, the CRM delivery models, the tenant secrets...): tens of milliseconds
of every cold start. ``defer_build`` moves that build to the model's first validation or serialization,
so a cold start pays for the models its first event uses, and no more (issue 21). SnapStart's priming
(``ctibridge.snapstart``) builds them before the snapshot, so a restored environment pays for none.
A subclass's own ``model_config`` is merged with this one: it keeps ``defer_build``.
"""

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(defer_build=True)
