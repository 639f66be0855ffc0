// The bridge's WebSocket client (webphone/js/bridge.js) against a fake WebSocket: API Gateway's 2-hour
// limit met by a new connection opened before it, with no gap and nothing shown to the agent.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { Bridge } from "../../webphone/js/bridge.js";

class FakeWebSocket {
  static instances = [];
  readyState = 0;
  sent = [];
  closedWith = null;
  #listeners = {};

  constructor(url) {
    this.url = new URL(url);
    FakeWebSocket.instances.push(this);
  }

  addEventListener(type, listener) {
    (this.#listeners[type] ??= []).push(listener);
  }

  #dispatch(type, event = {}) {
    for (const listener of this.#listeners[type] ?? []) listener(event);
  }

  send(data) {
    this.sent.push(JSON.parse(data));
  }

  close(code = 1000, reason = "") {
    if (this.readyState >= 2) return;
    this.readyState = 3;
    this.closedWith = { code, reason };
    this.#dispatch("close", { code, reason });
  }

  // the server's side
  accept() {
    this.readyState = 1;
    this.#dispatch("open");
  }

  refuse() {
    this.readyState = 3;
    this.#dispatch("close", { code: 1006, reason: "" });
  }

  push(message) {
    this.#dispatch("message", { data: JSON.stringify(message) });
  }

  actions() {
    return this.sent.map((m) => m.action);
  }
}

const settle = () => new Promise((resolve) => setImmediate(resolve));
const ROTATE_MS = 115 * 60_000;

async function openBridge(t) {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval"] });
  FakeWebSocket.instances.length = 0;
  let token = "token-1";
  const bridge = new Bridge({ url: "wss://ws.example/prod", getToken: () => token, tab: "tab-1", WebSocketImpl: FakeWebSocket, pingIntervalMs: 10 * 60_000 });
  const events = [];
  for (const name of ["open", "close", "reconnecting", "disconnected", "call.ringing", "state"]) bridge.on(name, (...args) => events.push([name, ...args]));
  bridge.connect();
  await settle();
  const first = FakeWebSocket.instances[0];
  first.accept();
  events.length = 0;
  return { bridge, first, events, setToken: (value) => (token = value) };
}

describe("API Gateway's 2-hour limit", () => {
  test("a new connection opens before it; the old one closes after the new one's state: no gap, nothing shown", async (t) => {
    // Given a tab connected, its session token refreshed since
    const { bridge, first, events, setToken } = await openBridge(t);
    setToken("token-2");
    // When the connection nears API Gateway's 2 hours
    t.mock.timers.tick(ROTATE_MS);
    await settle();
    // Then a second connection opens with the current token, for the same tab, while the first still serves
    assert.equal(FakeWebSocket.instances.length, 2);
    const second = FakeWebSocket.instances[1];
    assert.equal(second.url.searchParams.get("token"), "token-2");
    assert.equal(second.url.searchParams.get("tab"), "tab-1");
    first.push({ type: "call.ringing", callid: "c-1", phone: "0901234567" });
    assert.equal(events.filter(([name]) => name === "call.ringing").length, 1);
    // When it opens: it is synced and becomes the bridge's connection; the first one is kept until its state
    second.accept();
    assert.deepEqual(second.actions(), ["sync"]);
    assert.deepEqual(events.filter(([name]) => name === "open"), [["open", { rotated: true }]]);
    assert.equal(first.closedWith, null);
    second.push({ type: "state", voice: false, voice_tab: "tab-1" });
    assert.deepEqual(first.closedWith, { code: 1000, reason: "rotated" });
    // And the agent saw no close and no reconnection; the bridge stays open and sends on the new one
    assert.deepEqual(events.filter(([name]) => ["close", "reconnecting", "disconnected"].includes(name)), []);
    assert.equal(bridge.state, "open");
    assert.equal(bridge.enableVoice(), true);
    assert.deepEqual(second.actions(), ["sync", "enableVoice"]);
    // and hears the new connection's popups
    second.push({ type: "call.ringing", callid: "c-2", phone: "0901234567" });
    assert.equal(events.filter(([name]) => name === "call.ringing").length, 2);
    // The next rotation comes two hours after this connection opened
    t.mock.timers.tick(ROTATE_MS);
    await settle();
    assert.equal(FakeWebSocket.instances.length, 3);
    bridge.close();
  });

  test("until the old connection closes, what the server sent to it alone still arrives; popups come once, by the new one", async (t) => {
    const { bridge, first } = await openBridge(t);
    const heard = [];
    bridge.on("message", (m) => heard.push(m.type));
    t.mock.timers.tick(ROTATE_MS);
    await settle();
    FakeWebSocket.instances[1].accept();
    // When the server, still counting the old connection as the voice tab, sends it a click-to-call,
    // and a popup reaches both connections
    first.push({ type: "call.dial", request_id: "r-1", phone: "0901234567" });
    first.push({ type: "call.ringing", callid: "c-1", phone: "0901234567" });
    FakeWebSocket.instances[1].push({ type: "call.ringing", callid: "c-1", phone: "0901234567" });
    // Then the click-to-call is heard, and the popup once
    assert.deepEqual(heard, ["call.dial", "call.ringing"]);
    bridge.close();
  });

  test("the new connection cannot open: the old one goes on serving, nothing shown", async (t) => {
    const { bridge, first, events } = await openBridge(t);
    t.mock.timers.tick(ROTATE_MS);
    await settle();
    FakeWebSocket.instances[1].refuse();
    assert.equal(bridge.state, "open");
    assert.deepEqual(events, []);
    assert.equal(bridge.sync(), true);
    assert.deepEqual(first.actions().at(-1), "sync");
    // and when API Gateway closes it, the usual reconnection follows
    first.refuse();
    assert.deepEqual(events.map(([name]) => name), ["close", "reconnecting"]);
    bridge.close();
  });
});
