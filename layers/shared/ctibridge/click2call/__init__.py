"""Click-to-call: the CRM (or the webphone) asks for a call; the agent's device places it.

Seed 004 §2 (``click2call.php`` on the PBX, the webphone's custom SIP Call-ID returned as ``userfield``)
and seeds 001/002 (``csCallout``, ``changeDevice``, the call-out error table).
"""
