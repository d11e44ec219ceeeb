// What every console page shares: same-origin API calls with the CSRF token, live sockets that
// reconnect, a status indicator and an error toast. No framework, no build step.

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

export async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new Error((data && data.detail) || `HTTP ${response.status}`);
  return data;
}

let toastTimer = 0;
export function showError(error) {
  const toast = document.getElementById("toast");
  toast.textContent = error instanceof Error ? error.message : String(error);
  toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { toast.hidden = true; }, 6000);
}

function setLiveState(state, text) {
  const indicator = document.getElementById("live-state");
  if (!indicator) return;
  indicator.dataset.state = state;
  indicator.textContent = text;
}

function socketUrl(path) {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
}

// A JSON socket that reconnects after 1 s, doubling up to 30 s. ``onOpen(socket)`` runs on every
// (re)connection; ``onFrame(frame)`` gets each parsed frame. ``reconnect: false`` gives up on close.
export function liveSocket(path, { onOpen = () => {}, onFrame, reconnect = true }) {
  let delay = 1000;
  let socket = null;
  let stopped = false;
  const connect = () => {
    socket = new WebSocket(socketUrl(path));
    socket.addEventListener("open", () => {
      delay = 1000;
      setLiveState("live", "Live");
      onOpen(socket);
    });
    socket.addEventListener("message", (message) => {
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        frame = { type: "text", data: message.data };
      }
      onFrame(frame);
    });
    socket.addEventListener("close", () => {
      if (stopped || !reconnect) {
        setLiveState("idle", stopped ? "" : "Disconnected");
        return;
      }
      setLiveState("down", "Reconnecting…");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    });
  };
  connect();
  // Leaving the page closes the socket anyway; closing a connecting one would log an error.
  window.addEventListener("pagehide", () => { stopped = true; });
  return {
    send(event, data) {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ event, data }));
    },
  };
}

// Run ``fn`` once per animation frame however often it is asked for (bursts of events).
export function coalesce(fn) {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; fn(); });
  };
}

export function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

export function setBadge(element, status) {
  element.className = `badge status-${status}`;
  element.textContent = status;
}
