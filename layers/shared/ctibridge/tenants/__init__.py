"""Tenants and agents: models, DynamoDB access (``repository``), secrets (``secrets``), provisioning."""
