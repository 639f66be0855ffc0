"""Call logs: one item per PBX call, merged from its events, listed by date, phone and extension."""
