// The webphone's message catalogs and Vietnamese number formatting, without a browser:
//   node --test tests/webphone/
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { calloutErrorFromJsSIP, describeCalloutError } from "../../webphone/js/callout-errors.js";
import {
  CATALOGS,
  LANGUAGES,
  browserLanguages,
  getLanguage,
  msg,
  normalizeLanguage,
  onLanguageChange,
  pickLanguage,
  setLanguage,
  storedLanguage,
  storeLanguage,
  t,
} from "../../webphone/js/i18n.js";
import en from "../../webphone/js/messages/en.js";
import vi from "../../webphone/js/messages/vi.js";
import { checkDialable, formatPhone } from "../../webphone/js/phone-numbers.js";
import { callTime, statusWords } from "../../webphone/js/ui.js";
import { loggedInCore } from "./fakes.mjs";

const placeholders = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

function inLanguage(language, body) {
  const before = getLanguage();
  setLanguage(language);
  try {
    return body();
  } finally {
    setLanguage(before);
  }
}

describe("catalogs", () => {
  it("have the same keys in Vietnamese and English", () => {
    assert.deepEqual(Object.keys(vi).sort(), Object.keys(en).sort());
    assert.deepEqual([...LANGUAGES].sort(), Object.keys(CATALOGS).sort());
  });

  it("use the same {placeholders} in both languages, and no empty message", () => {
    for (const key of Object.keys(en)) {
      assert.deepEqual(placeholders(vi[key]), placeholders(en[key]), key);
      assert.ok(vi[key].trim() && en[key].trim(), key);
    }
  });

  it("translate every word of the Vietnamese catalog (no English left but product names and codes)", () => {
    // "SIP: {uri}" and "IP Phone" are written the same way in Vietnamese call centers.
    const sameInBoth = new Set(["agent.sip", "sip.ipPhone"]);
    const untranslated = Object.keys(en).filter((key) => vi[key] === en[key] && !sameInBoth.has(key));
    assert.deepEqual(untranslated, []);
    assert.match(vi["button.answer"], /^Nghe máy$/);
    assert.match(vi["button.hangup"], /^Gác máy$/);
    assert.match(vi["button.hold"], /^Giữ máy$/);
    assert.match(vi["button.mute"], /^Tắt tiếng$/);
    assert.match(vi["button.transfer"], /^Chuyển cuộc gọi$/);
    assert.match(vi["ready.on"], /^Sẵn sàng$/);
    assert.match(vi["ready.off"], /^Không sẵn sàng$/);
    assert.match(vi["call.incoming"], /^Cuộc gọi đến$/);
  });

  it("cover every key the page's HTML names (data-i18n*)", async () => {
    const { readFile } = await import("node:fs/promises");
    const html = await readFile(new URL("../../webphone/index.html", import.meta.url), "utf8");
    const keys = [...html.matchAll(/data-i18n(?:-[a-z-]+)?="([^"]+)"/g)].map((m) => m[1]);
    assert.ok(keys.length > 30);
    for (const key of keys) assert.ok(Object.hasOwn(en, key), `index.html names ${key}, missing from the catalogs`);
  });
});

describe("lookup", () => {
  it("fills placeholders in the asked language and falls back to the key", () => {
    assert.equal(t("agent.ext", { ext: 101 }, "en"), "ext 101");
    assert.equal(t("agent.ext", { ext: 101 }, "vi"), "máy lẻ 101");
    assert.equal(t("notice.reconnecting", { attempt: 2, max: 20 }, "vi"), "Đang kết nối lại tới cầu nối (2/20)…");
    assert.equal(t("no.such.key", {}, "vi"), "no.such.key");
    assert.equal(t("agent.ext", {}, "en"), "ext {ext}");
  });

  it("renders lazy messages in the language current when shown", () => {
    const text = msg("call.status.ringingOn", { device: msg("device.mobile") });
    assert.equal(inLanguage("en", () => String(text)), "Ringing on your mobile…");
    assert.equal(inLanguage("vi", () => String(text)), "Đang đổ chuông trên điện thoại di động của bạn…");
    assert.equal(text.key, "call.status.ringingOn");
  });

  it("tells listeners of a switch, once", () => {
    const seen = [];
    const stop = onLanguageChange((language) => seen.push(language));
    inLanguage("vi", () => setLanguage("vi-VN"));
    stop();
    setLanguage("vi");
    setLanguage("en");
    assert.deepEqual(seen, ["vi", "en"]);
  });
});

describe("choosing the language", () => {
  it("normalizes BCP 47 tags to the catalogs' languages", () => {
    assert.equal(normalizeLanguage("vi-VN"), "vi");
    assert.equal(normalizeLanguage("VI"), "vi");
    assert.equal(normalizeLanguage("en_GB"), "en");
    assert.equal(normalizeLanguage("fr-FR"), null);
    assert.equal(normalizeLanguage(undefined), null);
  });

  it("prefers the agent's choice, then the tenant's default, then the browser's, then English", () => {
    assert.equal(pickLanguage({ chosen: "en", tenantDefault: "vi", browser: ["vi-VN"] }), "en");
    assert.equal(pickLanguage({ tenantDefault: "vi", browser: ["en-US"] }), "vi");
    assert.equal(pickLanguage({ tenantDefault: null, browser: ["fr-FR", "vi-VN", "en"] }), "vi");
    assert.equal(pickLanguage({ browser: "vi" }), "vi");
    assert.equal(pickLanguage({ browser: ["de-DE"] }), "en");
    assert.equal(pickLanguage(), "en");
  });

  it("reads the browser's languages and keeps the agent's choice in storage", () => {
    assert.deepEqual(browserLanguages({ languages: ["vi-VN", "en-US"], language: "vi-VN" }), ["vi-VN", "en-US"]);
    assert.deepEqual(browserLanguages({ language: "vi" }), ["vi"]);
    assert.deepEqual(browserLanguages(undefined), []);
    const store = new Map();
    const storage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v), removeItem: (k) => store.delete(k) };
    assert.equal(storedLanguage(storage), null);
    storeLanguage("vi-VN", storage);
    assert.equal(storedLanguage(storage), "vi");
    storeLanguage(null, storage);
    assert.equal(storedLanguage(storage), null);
    const refusing = { getItem: () => { throw new Error("denied"); }, setItem: () => { throw new Error("denied"); } };
    assert.equal(storedLanguage(refusing), null);
    assert.doesNotThrow(() => storeLanguage("vi", refusing));
  });
});

describe("phone numbers as Vietnamese users write them", () => {
  const cases = [
    ["0912345678", "0912 345 678"],
    ["0901234567", "0901 234 567"],
    ["091 234 5678", "0912 345 678"],
    ["0912.345.678", "0912 345 678"],
    ["02838221234", "028 3822 1234"],
    ["024-3826-1234", "024 3826 1234"],
    ["+84912345678", "+84 912 345 678"],
    ["84912345678", "+84 912 345 678"],
    ["+842838221234", "+84 28 3822 1234"],
    ["19001234", "1900 1234"],
    ["1800123456", "1800 123 456"],
    ["101", "101"],
    ["1234567", "1234567"],
    ["+14155550100", "+14155550100"],
    ["anonymous", "anonymous"],
    ["", ""],
    [null, ""],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)} → ${JSON.stringify(expected)}`, () => assert.equal(formatPhone(input), expected));
  }
});

describe("call-out errors and dial checks follow the language", () => {
  it("gives seed 000's Vietnamese texts for its error table", () => {
    inLanguage("vi", () => {
      assert.equal(describeCalloutError("IPCC_NOT_CONNECT_CUSTOMER", 404), "Không kết nối được đến số thuê bao.");
      assert.equal(describeCalloutError("IPCC_NOT_CONNECT_CUSTOMER", 486), "Khách hàng đang bận.");
      assert.equal(describeCalloutError("IPCC_NOT_CONNECT_CUSTOMER", 408), "Khách hàng không nghe máy hoặc có lỗi xảy ra.");
      assert.equal(describeCalloutError("IPCC_NOT_CONNECT_CUSTOMER", 403), "Đầu số này chưa được thanh toán cước.");
      assert.equal(describeCalloutError("IPCC_NOT_CONNECT_CUSTOMER", 487), "Khách hàng không nghe máy.");
      assert.equal(describeCalloutError("IPCC_NOT_CONNECT_CUSTOMER", 480), "Thuê bao khách hàng tạm thời không liên lạc được.");
      assert.match(describeCalloutError("IPCC_NOT_CONNECT_CUSTOMER", 503), /^Có lỗi xảy ra/);
      assert.match(describeCalloutError("IPCC_NOT_CONNECT_AGENT_ID"), /^Không thể kết nối được đến thiết bị nghe gọi của tư vấn viên/);
      assert.match(describeCalloutError("CALLOUT_AGENT_BUSY"), /^Mã trả về 786 - Busy\. Vui lòng đăng xuất và đăng nhập lại/);
      assert.equal(describeCalloutError("CALLOUT_PERMISSION_DENY"), "Không có quyền gọi ra. Liên hệ Admin để cấu hình.");
      assert.match(describeCalloutError("SOMETHING_ELSE"), /^Có lỗi xảy ra/);
      const failed = calloutErrorFromJsSIP("Busy", 486);
      assert.deepEqual(failed, { errorCode: "IPCC_NOT_CONNECT_CUSTOMER", sipCode: 486, message: "Khách hàng đang bận." });
    });
    inLanguage("en", () => {
      assert.equal(describeCalloutError("IPCC_NOT_CONNECT_CUSTOMER", 486), "The customer is busy.");
      assert.equal(calloutErrorFromJsSIP("User Denied Media Access", null).message, t("callout.microphoneDenied"));
    });
  });

  it("says what is wrong with a typed number in the agent's language", () => {
    assert.equal(inLanguage("vi", () => checkDialable("12ab").message), vi["dial.wrongNumber"]);
    assert.equal(inLanguage("en", () => checkDialable("").message), en["dial.empty"]);
    assert.deepEqual(checkDialable("0912 345 678"), { ok: true, number: "0912345678", kind: "external" });
  });
});

describe("the phone core's messages (the SDK's errors) follow the language", () => {
  it("rejects in Vietnamese, with the same stable codes", async () => {
    const { core, sip } = await loggedInCore();
    const before = getLanguage();
    setLanguage("vi");
    try {
      await assert.rejects(core.call("12ab"), { code: "ERROR_CALLOUT_CONNECT", message: vi["dial.wrongNumber"] });
      sip.ring();
      await assert.rejects(core.call("0987654321"), { code: "CALLOUT_AGENT_BUSY", message: vi["dial.busy"] });
      await assert.rejects(core.transferToAgent(""), { code: "NOT_CHOOSE_TYPE_TRANSFER", message: vi["sdk.chooseAgent"] });
      setLanguage("en");
      await assert.rejects(core.call("0987654321"), { code: "CALLOUT_AGENT_BUSY", message: en["dial.busy"] });
    } finally {
      setLanguage(before);
    }
  });
});

describe("the call history's rows", () => {
  it("tell every call's time on the agent's clock, logged by the PBX or only rung", () => {
    const before = process.env.TZ;
    process.env.TZ = "Asia/Ho_Chi_Minh"; // node re-reads TZ when it is set
    try {
      // The PBX's call log (calldate in UTC, and as the PBX wrote it in the tenant's time zone)
      const logged = { calldate: "2026-12-05T06:28:38Z", calldate_local: "2026-12-05 13:28:38", started_at: "2026-12-05T06:28:38.000Z" };
      // A call that only rang: no calldate yet, the time the bridge first heard of it (UTC)
      const rung = { calldate: null, calldate_local: null, started_at: "2026-12-05T06:32:33.250Z" };
      assert.equal(callTime(logged), "2026-12-05 13:28:38");
      assert.equal(callTime(rung), "2026-12-05 13:32:33");
      // Across midnight, the agent's date
      assert.equal(callTime({ started_at: "2026-12-05T18:10:00Z" }), "2026-12-06 01:10:00");
      // No instant at all: the PBX's own text, else nothing
      assert.equal(callTime({ calldate_local: "2026-12-05 13:28:38" }), "2026-12-05 13:28:38");
      assert.equal(callTime({}), "");
    } finally {
      if (before === undefined) delete process.env.TZ;
      else process.env.TZ = before;
    }
  });

  it("name a call with no outcome yet in words, not the bridge's status code", () => {
    assert.equal(inLanguage("vi", () => statusWords("RINGING")), vi["status.RINGING"]);
    assert.equal(inLanguage("en", () => statusWords("DIALING")), en["status.DIALING"]);
    assert.equal(inLanguage("vi", () => statusWords("CHANUNAVAIL")), vi["status.CHANUNAVAIL"]);
    assert.equal(inLanguage("en", () => statusWords("SOMETHING NEW")), "SOMETHING NEW"); // kept, not hidden
  });
});
