"""Call events forwarded to the tenants' CRM endpoints (issue 10).

``events`` builds the envelopes, ``enqueue`` puts them on the DeliveryQueue (the webhook path only
enqueues), ``worker`` delivers them (``seed004`` requests or Standard Webhooks JSON signed by
``signing``), ``store`` records every attempt, ``replay`` re-sends from the DLQ or a time range.
"""
