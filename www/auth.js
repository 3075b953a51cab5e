// Reads from a collector started with --token need that token. The page asks for it once, keeps it in
// sessionStorage (this tab only, gone when it closes) and sends it as `Authorization: Bearer` on
// fetches. A browser cannot set headers on a WebSocket, so the tail gets it as a subprotocol,
// `logship.token.<hex of the token's UTF-8>`, offered next to `logship` (which the collector picks):
// the token never goes into a URL, where access logs and history would keep it.

const KEY = "logship.token";
let declined = false;

function stored() {
  return sessionStorage.getItem(KEY);
}

// Asks once per page load; returns whether there is a new token to try.
function ask(refused) {
  if (declined) return false;
  const t = prompt(
    refused
      ? "The collector refused that token. Its --token, to read the logs:"
      : "This collector needs its token (--token) to show the logs:",
  );
  if (!t) {
    declined = true;
    return false;
  }
  sessionStorage.setItem(KEY, t.trim());
  return true;
}

// fetch() with the token; on 401 asks for it and tries again.
export async function authFetch(url, init = {}) {
  for (;;) {
    const used = stored();
    const headers = new Headers(init.headers);
    if (used) headers.set("Authorization", `Bearer ${used}`);
    const res = await fetch(url, { ...init, headers });
    if (res.status !== 401) return res;
    // Another request may have got a token meanwhile: use that one before asking.
    if (stored() === used && !ask(used !== null)) return res;
  }
}

// A WebSocket to `path` (relative to this page) carrying the token.
export function openSocket(path) {
  const url = new URL(path, location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const t = stored();
  const protocols = ["logship"];
  if (t) {
    const hex = Array.from(new TextEncoder().encode(t), (b) => b.toString(16).padStart(2, "0")).join("");
    protocols.push(`logship.token.${hex}`);
  }
  return new WebSocket(url, protocols);
}
