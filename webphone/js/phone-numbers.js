// What the agent may dial, as the seed vendors' browser script accepts it: external numbers of 8 to 13
// digits, internal extensions of 1 to 7 digits not starting with 0. Spaces, dots, dashes and
// parentheses typed or pasted with a number are ignored; a leading + is kept (E.164).

const EXTERNAL = /^\+?[0-9]{8,13}$/;
const EXTENSION = /^[1-9][0-9]{0,6}$/;

/** The number without separators, e.g. "090 123-4567" → "0901234567". */
export function cleanNumber(text) {
  return String(text ?? "").replace(/[\s.\-()]/g, "");
}

/** {ok, number, kind: "external"|"extension"} or {ok: false, message} for a number typed by the agent. */
export function checkDialable(text) {
  const number = cleanNumber(text);
  if (EXTERNAL.test(number)) return { ok: true, number, kind: "external" };
  if (EXTENSION.test(number)) return { ok: true, number, kind: "extension" };
  if (!number) return { ok: false, number, message: "Type a phone number first." };
  return {
    ok: false,
    number,
    message: "Wrong phone number: use 8 to 13 digits, or an extension of 1 to 7 digits.",
  };
}

/** The last 9 digits: how a SIP caller id and a PBX webhook's phone are matched (0901… vs +84901…). */
export function numberKey(text) {
  return cleanNumber(text).replace(/\D/g, "").slice(-9);
}
