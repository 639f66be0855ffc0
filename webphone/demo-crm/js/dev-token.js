// Stands for the CRM's server: it mints the agent's login token with the tenant's access key (seed
// 001/002 JWT, or POST /v1/tokens with the CRM API key) and gives it to the page. On the local stack,
// GET /dev/token plays that part; the access key never reaches a browser.

/** The agent this demo page is: ?ipphone=102, default 101. */
export function demoAgent() {
  const ipphone = new URLSearchParams(location.search).get("ipphone") || "101";
  return /^[0-9A-Za-z]{1,16}$/.test(ipphone) ? ipphone : "101";
}

/** {token, domain} for the demo tenant's agent `ipphone`. */
export async function devToken(ipphone = demoAgent()) {
  const response = await fetch(`/dev/token?ipphone=${encodeURIComponent(ipphone)}`, { cache: "no-store" });
  if (!response.ok) throw new Error(`/dev/token answered HTTP ${response.status}`);
  return response.json();
}

/** Append a line to the page's event log. */
export function logLine(list, text) {
  const item = document.createElement("li");
  item.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  list.prepend(item);
}
