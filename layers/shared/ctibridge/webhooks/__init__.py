"""The PBX call-event webhooks of seed 004: request parsing, secret check, validation, storage."""
