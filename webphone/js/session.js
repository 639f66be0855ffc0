// CORE: a part of the phone core (js/phone.js is its only owner; faces never use it directly).
// The agent's session with the bridge's HTTP API: login with a CRM-minted token, refresh before expiry,
// logout, and authorized requests.
//
// Storage rules (issue 8 §5): the session token lives in memory and, so a reload of the same tab keeps
// the agent logged in, in this tab's sessionStorage; never in localStorage. The SIP password arrives
// in `me()`'s answer and is handed to the SIP module only: it is never written to any storage.
// "Remember me" keeps the non-secret login fields (the domain) in localStorage.
//
// Events: "login" (user), "refreshed" (session), "logout" (reason), "expired" (error).
// `discard()` forgets a session the server already ended (the bridge's `session.revoked`).

import { Emitter } from "./emitter.js";

const SESSION_KEY = "ctibridge.session";
const REMEMBER_KEY = "ctibridge.remember";
const REFRESH_AHEAD_MS = 120_000; // refresh two minutes before expiry
const MIN_REFRESH_DELAY_MS = 5_000;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

export class Session extends Emitter {
  #api;
  #fetch;
  #storage;
  #local;
  #state = null; // {token, domain, expiresAt (ms), user}
  #refreshTimer = null;

  constructor({ httpApiUrl, fetchImpl = globalThis.fetch.bind(globalThis), storage = globalThis.sessionStorage, localStorage = globalThis.localStorage }) {
    super();
    this.#api = httpApiUrl.replace(/\/+$/, "");
    this.#fetch = fetchImpl;
    this.#storage = storage;
    this.#local = localStorage;
  }

  get token() {
    return this.#state?.token ?? null;
  }

  get user() {
    return this.#state?.user ?? null;
  }

  get domain() {
    return this.#state?.domain ?? null;
  }

  get expiresAt() {
    return this.#state?.expiresAt ?? null;
  }

  get loggedIn() {
    return Boolean(this.#state?.token);
  }

  /** Seed login: POST /{domain}/thirdParty/login {"token": crmToken}. */
  async login(domain, crmToken) {
    domain = String(domain ?? "").trim().toLowerCase();
    if (!domain || !crmToken) throw new ApiError(400, "VALIDATION_ERROR", "Both the domain and the token are needed.");
    const body = await this.#request(`/${encodeURIComponent(domain)}/thirdParty/login`, {
      method: "POST",
      body: { token: String(crmToken).trim() },
      auth: false,
    });
    const user = body.user ?? {};
    if (!user.token) throw new ApiError(500, "LOGIN_FAILED", "The login answer had no session token.");
    this.#set({
      token: user.token,
      domain,
      expiresAt: Date.now() + (Number(user.expires_in) || 3600) * 1000,
      user: withoutToken(user),
    });
    this.emit("login", this.user);
    return this.user;
  }

  /** The session saved by this tab before a reload, if it still works. */
  async restore() {
    let saved;
    try {
      saved = JSON.parse(this.#storage?.getItem(SESSION_KEY) ?? "null");
    } catch {
      saved = null;
    }
    if (!saved?.token || !(saved.expiresAt > Date.now())) {
      this.#forget();
      return false;
    }
    this.#state = saved;
    this.#scheduleRefresh();
    return true;
  }

  /** GET /v1/agent/me: the agent, the session and the webphone's SIP settings (password included). */
  async me() {
    return this.#request("/v1/agent/me");
  }

  /** POST /v1/sessions/refresh: a new token, later expiry. */
  async refresh() {
    const body = await this.#request("/v1/sessions/refresh", { method: "POST" });
    const expiresAt = body.expires_at ? body.expires_at * 1000 : Date.now() + (Number(body.expires_in) || 3600) * 1000;
    this.#set({ ...this.#state, token: body.token, expiresAt });
    this.emit("refreshed", { expiresAt });
    return body;
  }

  /** POST /v1/sessions/logout, then forget everything (also when the server can't be reached). */
  async logout(reason = "logout") {
    const had = this.loggedIn;
    try {
      if (had) await this.#request("/v1/sessions/logout", { method: "POST" });
    } catch {
      // The token is forgotten either way; the server expires it on its own.
    } finally {
      this.#forget();
      if (had) this.emit("logout", reason);
    }
  }

  /** The server ended this session (logged out elsewhere, revoked): forget it here, no request. */
  discard(reason = "revoked") {
    const had = this.loggedIn;
    this.#forget();
    if (had) this.emit("logout", reason);
  }

  /** An authorized GET/POST to the HTTP API; answers the JSON body or throws ApiError. */
  async api(path, options = {}) {
    return this.#request(path, options);
  }

  // ------------------------------------------------------------------ remember me (non-secret fields)
  static remembered(storage = globalThis.localStorage) {
    try {
      const value = JSON.parse(storage?.getItem(REMEMBER_KEY) ?? "null");
      return value && typeof value.domain === "string" ? { domain: value.domain } : null;
    } catch {
      return null;
    }
  }

  static remember(fields, storage = globalThis.localStorage) {
    // Only what is not secret: never a token, never a password.
    if (fields) storage?.setItem(REMEMBER_KEY, JSON.stringify({ domain: String(fields.domain ?? "") }));
    else storage?.removeItem(REMEMBER_KEY);
  }

  // ------------------------------------------------------------------ internals
  async #request(path, { method = "GET", body, auth = true } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const token = auth ? this.token : null;
    if (auth) {
      if (!token) throw new ApiError(401, "SESSION_INVALID", "Not logged in.");
      headers.Authorization = `Bearer ${token}`;
    }
    let response;
    try {
      response = await this.#fetch(`${this.#api}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
      });
    } catch (error) {
      throw new ApiError(0, "NETWORK_ERROR", "The bridge can't be reached; check the network.");
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) {
      const error = new ApiError(response.status, data?.code, data?.message);
      // Only the session this request was made with can expire here: a request still in flight when
      // the page logged out (or logged in again) must not report the new state as "expired".
      if (auth && response.status === 401 && this.token === token) {
        this.#forget();
        this.emit("expired", error);
      }
      throw error;
    }
    return data ?? {};
  }

  #set(state) {
    this.#state = state;
    try {
      this.#storage?.setItem(SESSION_KEY, JSON.stringify(state));
    } catch {
      // storage full or disabled: memory is enough
    }
    this.#scheduleRefresh();
  }

  #forget() {
    clearTimeout(this.#refreshTimer);
    this.#refreshTimer = null;
    this.#state = null;
    try {
      this.#storage?.removeItem(SESSION_KEY);
    } catch {
      // ignore
    }
  }

  #scheduleRefresh() {
    clearTimeout(this.#refreshTimer);
    if (!this.#state) return;
    const delay = Math.max(MIN_REFRESH_DELAY_MS, this.#state.expiresAt - Date.now() - REFRESH_AHEAD_MS);
    this.#refreshTimer = setTimeout(() => {
      this.refresh().catch((error) => {
        if (error.status !== 401) {
          // Transient (network): try again in a while, still before the expiry if possible.
          this.#refreshTimer = setTimeout(() => this.#scheduleRefresh(), 15_000);
        }
      });
    }, delay);
  }
}

function withoutToken(user) {
  const { token, ...rest } = user;
  return rest;
}
