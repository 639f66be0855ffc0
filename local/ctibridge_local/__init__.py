"""The local stack: template.yaml's APIs, functions and resources running on a laptop.

moto's server stands in for AWS; a Starlette gateway serves the HTTP API (payload format 2.0) and the
WebSocket API (AWS's event shapes and the @connections management API); SQS event-source mappings run
as pollers. Everything is read from template.yaml, so there is no second list to keep in sync.
"""
