// The webphone's and the SDK's words in Vietnamese and English: message catalogs (messages/*.js),
// the language chosen for this page, and lazy messages that re-render when the agent switches it.
//
// Which language: the agent's own choice in Settings (localStorage), else the tenant's default
// (`webphone.language` of /v1/agent/me, set with `ctibridge tenant update --webphone-language`), else
// the browser's (`navigator.language` vi-* → Vietnamese), else English. No DOM access at import time:
// the SDK and node's tests import this module too.

import en from "./messages/en.js";
import vi from "./messages/vi.js";

export const CATALOGS = Object.freeze({ vi, en });
export const LANGUAGES = Object.freeze(["vi", "en"]);
export const DEFAULT_LANGUAGE = "en";
const STORAGE_KEY = "ctibridge.language";
const PLACEHOLDER = /\{(\w+)\}/g;

let current = DEFAULT_LANGUAGE;
const listeners = new Set();

/** "vi", "en" or null for a BCP 47 tag ("vi-VN" → "vi", "en-US" → "en", "fr" → null). */
export function normalizeLanguage(tag) {
  const base = String(tag ?? "").trim().toLowerCase().split(/[-_]/)[0];
  return LANGUAGES.includes(base) ? base : null;
}

/** The language to use: the agent's choice, else the tenant's default, else the browser's, else English. */
export function pickLanguage({ chosen = null, tenantDefault = null, browser = [] } = {}) {
  const browserTags = Array.isArray(browser) ? browser : [browser];
  return (
    normalizeLanguage(chosen) ??
    normalizeLanguage(tenantDefault) ??
    browserTags.map(normalizeLanguage).find(Boolean) ??
    DEFAULT_LANGUAGE
  );
}

/** The browser's preferred languages (navigator.languages, else navigator.language). */
export function browserLanguages(nav = globalThis.navigator) {
  if (!nav) return [];
  if (Array.isArray(nav.languages) && nav.languages.length) return [...nav.languages];
  return nav.language ? [nav.language] : [];
}

/**
 * The message `key` in `language` (default: the current one) with its {placeholders} filled from
 * `params`. A key missing from a catalog falls back to English, then to the key itself.
 */
export function t(key, params = {}, language = current) {
  const catalog = CATALOGS[language] ?? CATALOGS[DEFAULT_LANGUAGE];
  const text = catalog[key] ?? CATALOGS[DEFAULT_LANGUAGE][key] ?? key;
  return text.replace(PLACEHOLDER, (whole, name) => (params[name] === undefined || params[name] === null ? whole : String(params[name])));
}

/** Is there a message `key`? (For codes that may or may not have words, e.g. login error codes.) */
export function has(key) {
  return Object.prototype.hasOwnProperty.call(CATALOGS[DEFAULT_LANGUAGE], key);
}

/**
 * A lazy message: it renders in the language current when it is shown (String(message)), so a text
 * set before the agent switches language is re-drawn in the new one. `params` may hold lazy messages.
 */
export function msg(key, params = {}) {
  return Object.freeze({
    key,
    params,
    toString() {
      const resolved = {};
      for (const [name, value] of Object.entries(params)) resolved[name] = value == null ? value : String(value);
      return t(key, resolved);
    },
  });
}

export function getLanguage() {
  return current;
}

/** Switch the language (listeners re-draw); answers the language in effect. */
export function setLanguage(language) {
  const next = normalizeLanguage(language) ?? DEFAULT_LANGUAGE;
  if (next === current) return current;
  current = next;
  for (const listener of [...listeners]) listener(current);
  return current;
}

/** Call `listener(language)` on every switch; answers the function that stops it. */
export function onLanguageChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The agent's own choice saved on this computer (Settings), or null. */
export function storedLanguage(storage = safeLocalStorage()) {
  try {
    return normalizeLanguage(storage?.getItem(STORAGE_KEY));
  } catch {
    return null;
  }
}

export function storeLanguage(language, storage = safeLocalStorage()) {
  try {
    if (normalizeLanguage(language)) storage?.setItem(STORAGE_KEY, normalizeLanguage(language));
    else storage?.removeItem(STORAGE_KEY);
  } catch {
    // Storage refused (private mode, blocked third-party storage in a CRM's iframe): this page only.
  }
}

function safeLocalStorage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}

/**
 * Translate a page's static words: elements marked data-i18n (text), data-i18n-placeholder,
 * data-i18n-title and data-i18n-aria-label get the current language's message; <html lang> and the
 * title follow.
 */
export function translatePage(doc = document) {
  doc.documentElement.lang = current;
  for (const element of doc.querySelectorAll("[data-i18n]")) element.textContent = t(element.dataset.i18n);
  for (const [attribute, dataName] of [
    ["placeholder", "i18nPlaceholder"],
    ["title", "i18nTitle"],
    ["aria-label", "i18nAriaLabel"],
  ]) {
    const selector = `[data-${dataName.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}]`;
    for (const element of doc.querySelectorAll(selector)) element.setAttribute(attribute, t(element.dataset[dataName]));
  }
}
