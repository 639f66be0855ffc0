// What the agent may dial, as the seed vendors' browser script accepts it: external numbers of 8 to 13
// digits, internal extensions of 1 to 7 digits not starting with 0. Spaces, dots, dashes and
// parentheses typed or pasted with a number are ignored; a leading + is kept (E.164).

import { t } from "./i18n.js";

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
  if (!number) return { ok: false, number, message: t("dial.empty") };
  return {
    ok: false,
    number,
    message: t("dial.wrongNumber"),
  };
}

/** The last 9 digits: how a SIP caller id and a PBX webhook's phone are matched (0901… vs +84901…). */
export function numberKey(text) {
  return cleanNumber(text).replace(/\D/g, "").slice(-9);
}

/**
 * A number as Vietnamese users write it: mobiles 4-3-3 ("0912 345 678"), landlines 3-4-4 with the
 * province code ("028 3822 1234"), +84 numbers as "+84 912 345 678", 1800/1900 lines as "1900 123 456".
 * Anything else (extensions, foreign or withheld numbers) is shown as it came.
 */
export function formatPhone(text) {
  const raw = String(text ?? "").trim();
  if (!raw || !/^\+?[0-9\s.\-()]+$/.test(raw)) return raw;
  const number = cleanNumber(raw);
  const group = (digits, sizes) => {
    const parts = [];
    let at = 0;
    for (const size of sizes) {
      parts.push(digits.slice(at, at + size));
      at += size;
    }
    return parts.join(" ");
  };
  let match;
  if ((match = /^(?:\+84|84)([1-9][0-9]{8,9})$/.exec(number))) {
    const national = match[1];
    return `+84 ${national.length === 10 ? group(national, [2, 4, 4]) : group(national, [3, 3, 3])}`;
  }
  if (/^02[0-9]{9}$/.test(number)) return group(number, [3, 4, 4]);
  if (/^0[1-9][0-9]{8}$/.test(number)) return group(number, [4, 3, 3]);
  if (/^1[89]00[0-9]{4}$/.test(number)) return group(number, [4, 4]);
  if (/^1[89]00[0-9]{6}$/.test(number)) return group(number, [4, 3, 3]);
  return raw;
}
