// The call-out error table of seeds 000 (Alohub JSPhone) and 001 (VCC), in plain words.
//
// The seeds' `showCalloutError(errorCode, sipCode)` gets one of these codes; for
// IPCC_NOT_CONNECT_CUSTOMER the SIP status says why the customer could not be reached. JsSIP reports a
// failure as a cause (its SIP_ERROR_CAUSES: BUSY 486/600, REJECTED 403/603, NOT_FOUND 404/604,
// UNAVAILABLE 480/410/408/430, ...) plus the response's status code when there was one.
// The words are in the message catalogs (messages/vi.js has the seed's own Vietnamese texts).

import { t } from "./i18n.js";

export const ERROR_CODES = Object.freeze({
  NOT_CONNECT_CUSTOMER: "IPCC_NOT_CONNECT_CUSTOMER",
  NOT_CONNECT_AGENT: "IPCC_NOT_CONNECT_AGENT_ID",
  AGENT_BUSY: "CALLOUT_AGENT_BUSY",
  PERMISSION_DENY: "CALLOUT_PERMISSION_DENY",
  CONNECT: "ERROR_CALLOUT_CONNECT",
});

// IPCC_NOT_CONNECT_CUSTOMER, by SIP status (seed rows 1-7): catalog keys callout.customer.<status>.
const CUSTOMER_SIP_CODES = new Set([404, 486, 408, 403, 487, 480]);
// The other codes (seed rows 8-11): catalog keys callout.<code>.
const AGENT_SIDE_CODES = new Set(["IPCC_NOT_CONNECT_AGENT_ID", "CALLOUT_AGENT_BUSY", "CALLOUT_PERMISSION_DENY", "ERROR_CALLOUT_CONNECT"]);

/** The plain-words message of a seed error code (and SIP status, for IPCC_NOT_CONNECT_CUSTOMER). */
export function describeCalloutError(errorCode, sipCode) {
  if (errorCode === ERROR_CODES.NOT_CONNECT_CUSTOMER) {
    return t(CUSTOMER_SIP_CODES.has(Number(sipCode)) ? `callout.customer.${Number(sipCode)}` : "callout.customer.other");
  }
  return t(`callout.${AGENT_SIDE_CODES.has(errorCode) ? errorCode : ERROR_CODES.CONNECT}`);
}

// JsSIP causes that mean "our own side" rather than the customer's.
const AGENT_SIDE_CAUSES = new Set(["Connection Error", "Request Timeout"]);
const MEDIA_CAUSES = new Set([
  "WebRTC Error",
  "User Denied Media Access",
  "Bad Media Description",
  "Incompatible SDP",
  "Missing SDP",
  "Internal Error",
]);

/**
 * A failed call-out, from JsSIP's `failed` event ({cause, message}) → {errorCode, sipCode, message}.
 * `sipCode` is the final response's status (null when no response came back).
 */
export function calloutErrorFromJsSIP(cause, sipCode) {
  const code = Number.isInteger(sipCode) ? sipCode : null;
  let errorCode;
  if (code === 786) errorCode = ERROR_CODES.AGENT_BUSY;
  else if (code === 401 || code === 407 || cause === "Authentication Error") errorCode = ERROR_CODES.PERMISSION_DENY;
  else if (code !== null && code >= 400) errorCode = ERROR_CODES.NOT_CONNECT_CUSTOMER;
  else if (AGENT_SIDE_CAUSES.has(cause)) errorCode = ERROR_CODES.NOT_CONNECT_AGENT;
  else if (cause === "No Answer" || cause === "Expires") errorCode = ERROR_CODES.NOT_CONNECT_CUSTOMER;
  else if (MEDIA_CAUSES.has(cause)) errorCode = ERROR_CODES.CONNECT;
  else errorCode = ERROR_CODES.CONNECT;
  const effectiveSip = code ?? (errorCode === ERROR_CODES.NOT_CONNECT_CUSTOMER ? 487 : null);
  let message = describeCalloutError(errorCode, effectiveSip);
  if (cause === "User Denied Media Access") message = t("callout.microphoneDenied");
  return { errorCode, sipCode: effectiveSip, message };
}
