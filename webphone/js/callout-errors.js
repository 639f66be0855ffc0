// The call-out error table of seeds 000 (Alohub JSPhone) and 001 (VCC), in plain words.
//
// The seeds' `showCalloutError(errorCode, sipCode)` gets one of these codes; for
// IPCC_NOT_CONNECT_CUSTOMER the SIP status says why the customer could not be reached. JsSIP reports a
// failure as a cause (its SIP_ERROR_CAUSES: BUSY 486/600, REJECTED 403/603, NOT_FOUND 404/604,
// UNAVAILABLE 480/410/408/430, ...) plus the response's status code when there was one.

export const ERROR_CODES = Object.freeze({
  NOT_CONNECT_CUSTOMER: "IPCC_NOT_CONNECT_CUSTOMER",
  NOT_CONNECT_AGENT: "IPCC_NOT_CONNECT_AGENT_ID",
  AGENT_BUSY: "CALLOUT_AGENT_BUSY",
  PERMISSION_DENY: "CALLOUT_PERMISSION_DENY",
  CONNECT: "ERROR_CALLOUT_CONNECT",
});

// IPCC_NOT_CONNECT_CUSTOMER, by SIP status (seed rows 1-7).
const CUSTOMER_BY_SIP_CODE = Object.freeze({
  404: "This number could not be reached.",
  486: "The customer is busy.",
  408: "The customer did not answer, or the call could not go through.",
  403: "Calls to this number are barred: the line's charges have not been paid.",
  487: "The customer did not answer.",
  480: "The customer's phone is temporarily unreachable.",
});
const CUSTOMER_OTHER = "Something went wrong: the call could not go through.";

const MESSAGES = Object.freeze({
  IPCC_NOT_CONNECT_AGENT_ID:
    "Your phone can't be reached. Check your IP phone or softphone, or this browser's phone, and your internet connection.",
  CALLOUT_AGENT_BUSY: "Your line is busy (786). Log out and log in again to keep using it.",
  CALLOUT_PERMISSION_DENY: "You are not allowed to call out. Ask your admin to set it up.",
  ERROR_CALLOUT_CONNECT: "Something went wrong placing the call.",
});

/** The plain-words message of a seed error code (and SIP status, for IPCC_NOT_CONNECT_CUSTOMER). */
export function describeCalloutError(errorCode, sipCode) {
  if (errorCode === ERROR_CODES.NOT_CONNECT_CUSTOMER) {
    return CUSTOMER_BY_SIP_CODE[sipCode] ?? CUSTOMER_OTHER;
  }
  return MESSAGES[errorCode] ?? MESSAGES.ERROR_CALLOUT_CONNECT;
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
  if (cause === "User Denied Media Access") message = "The browser did not allow the microphone: allow it and call again.";
  return { errorCode, sipCode: effectiveSip, message };
}
