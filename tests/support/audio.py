"""Audio measurements in the page: every RTCPeerConnection the page makes, and its getStats().

``RECORD_PEER_CONNECTIONS`` is an init script (Playwright's add_init_script) that keeps each
RTCPeerConnection the page creates in ``window.__peerConnections``; :func:`audio_stats` reads the last
one's inbound/outbound audio counters. The webphone itself is not changed for the tests.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

RECORD_PEER_CONNECTIONS = """
(() => {
  const Native = window.RTCPeerConnection;
  if (!Native) return;
  window.__peerConnections = [];
  window.RTCPeerConnection = function (...args) {
    const pc = new Native(...args);
    window.__peerConnections.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Native.prototype;
  Object.setPrototypeOf(window.RTCPeerConnection, Native);
})();
"""

_STATS = """
async () => {
  const pcs = window.__peerConnections || [];
  const pc = pcs[pcs.length - 1];
  if (!pc) return null;
  const out = {connections: pcs.length, iceState: pc.iceConnectionState,
               inbound: null, outbound: null, source: null};
  (await pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio") {
      out.inbound = {packetsReceived: s.packetsReceived, totalAudioEnergy: s.totalAudioEnergy ?? 0,
                     audioLevel: s.audioLevel ?? 0, totalSamplesDuration: s.totalSamplesDuration ?? 0,
                     codec: s.codecId};
    }
    if (s.type === "outbound-rtp" && s.kind === "audio") out.outbound = {packetsSent: s.packetsSent};
    if (s.type === "media-source" && s.kind === "audio") {
      out.source = {totalAudioEnergy: s.totalAudioEnergy ?? 0, audioLevel: s.audioLevel ?? 0};
    }
  });
  return out;
}
"""


def audio_stats(page: Page) -> dict[str, Any] | None:
    """The page's current call's audio counters (None before any RTCPeerConnection)."""
    stats: dict[str, Any] | None = page.evaluate(_STATS)
    return stats
