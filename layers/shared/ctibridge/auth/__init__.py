"""Authentication: the seed's CRM login JWT, session tokens, CRM API keys and failed-login throttling."""
