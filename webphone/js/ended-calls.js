// CORE: a part of the phone core (js/phone.js is its only owner; faces never use it directly).
// The calls this tab saw end, by the PBX's callid (bounded). The bridge pops a ring up before it
// stores it, so a PBX that re-sends a ring (or sends it late, after the call log) pops the same callid
// again: a ring for a call that already ended here is ignored rather than shown as a new call.
const LIMIT = 64;

export class EndedCalls {
  #ids = new Set();

  add(callid) {
    if (!callid) return;
    this.#ids.delete(callid);
    this.#ids.add(callid);
    if (this.#ids.size > LIMIT) this.#ids.delete(this.#ids.values().next().value);
  }

  has(callid) {
    return Boolean(callid) && this.#ids.has(callid);
  }
}
