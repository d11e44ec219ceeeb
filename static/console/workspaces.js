// The workspaces page: every row follows its workspace on the /orchestration socket, the totals
// follow orchestration.global, and desired is edited in place (PUT …/desired).
import { api, liveSocket, showError } from "./console.js";

const table = document.getElementById("workspaces");
const body = table.tBodies[0];
const maxDesired = table.dataset.maxDesired;
const rows = new Map(); // path → {row, running, desired}
const totals = { running: 0, desired: 0 };

function track(row) {
  const input = row.querySelector("input.desired");
  const entry = {
    row,
    runningCell: row.querySelector(".running"),
    input,
    running: Number(row.querySelector(".running").textContent),
    desired: Number(input.value),
  };
  rows.set(row.dataset.workspace, entry);
  input.addEventListener("change", () => setDesired(row.dataset.workspace, input));
  return entry;
}

function addRow(path, running, desired) {
  body.querySelector("tr.empty")?.remove();
  const row = document.createElement("tr");
  row.dataset.workspace = path;
  const name = document.createElement("th");
  name.scope = "row";
  name.className = "path";
  name.textContent = path;
  const runningCell = document.createElement("td");
  runningCell.className = "num running";
  runningCell.textContent = running;
  const desiredCell = document.createElement("td");
  desiredCell.className = "num";
  const input = document.createElement("input");
  Object.assign(input, { className: "desired", type: "number", min: 0, max: maxDesired, value: desired });
  input.setAttribute("aria-label", `Desired agents in ${path}`);
  desiredCell.append(input);
  row.append(name, runningCell, desiredCell);
  const after = [...rows.keys()].filter((other) => other > path).sort()[0];
  body.insertBefore(row, after ? rows.get(after).row : null);
  return track(row);
}

function showWorkspace(data) {
  const entry = rows.get(data.workspaceId) ?? addRow(data.workspaceId, data.running, data.desired);
  const changed = entry.running !== data.running || entry.desired !== data.desired;
  entry.running = data.running;
  entry.desired = data.desired;
  entry.runningCell.textContent = data.running;
  // Never overwrite what the user is typing; the value arrives again on their change anyway.
  if (document.activeElement !== entry.input) entry.input.value = data.desired;
  if (!changed) return;
  entry.row.classList.add("changed");
  setTimeout(() => entry.row.classList.remove("changed"), 600);
}

function showTotals(data) {
  totals.running = data.running;
  totals.desired = data.desired;
  document.getElementById("global-running").textContent = data.running;
  document.getElementById("global-desired").textContent = data.desired;
  scheduleReconcile();
}

async function setDesired(path, input) {
  const value = Number(input.value);
  try {
    await api("PUT", `/api/orchestration/workspace/${encodeURIComponent(path)}/desired`, { desired: value });
  } catch (error) {
    input.value = rows.get(path).desired;
    showError(error);
  }
}

// Workspaces created or pruned elsewhere are not among the subscriptions: when the totals stop
// adding up, read the list once and follow the new ones.
let reconcileTimer = 0;
function scheduleReconcile() {
  clearTimeout(reconcileTimer);
  reconcileTimer = setTimeout(reconcile, 500);
}

async function reconcile() {
  const sum = (key) => [...rows.values()].reduce((total, entry) => total + entry[key], 0);
  if (sum("running") === totals.running && sum("desired") === totals.desired) return;
  let list;
  try {
    list = await api("GET", "/api/orchestration/workspaces");
  } catch (error) {
    showError(error);
    return;
  }
  const present = new Set(list.map((workspace) => workspace.id));
  for (const [path, entry] of rows) {
    if (!present.has(path)) {
      entry.row.remove();
      rows.delete(path);
      socket.send("unsubscribe", { workspaceId: path });
    }
  }
  for (const workspace of list) {
    if (!rows.has(workspace.id)) {
      addRow(workspace.id, workspace.running, workspace.desired);
      socket.send("subscribe", { workspaceId: workspace.id });
    }
  }
  document.getElementById("workspace-count").textContent = rows.size;
}

for (const row of body.querySelectorAll("tr[data-workspace]")) track(row);

// Every row's subscription answers with its current state; ``data-synced`` says all have.
let awaitingSnapshots = new Set();
function noteSnapshot(path) {
  awaitingSnapshots.delete(path);
  if (!awaitingSnapshots.size) table.dataset.synced = "true";
}

const socket = liveSocket("/orchestration", {
  onOpen(ws) {
    table.dataset.synced = "false";
    awaitingSnapshots = new Set(rows.keys());
    for (const path of rows.keys()) ws.send(JSON.stringify({ event: "subscribe", data: { workspaceId: path } }));
    if (!rows.size) table.dataset.synced = "true";
  },
  onFrame(frame) {
    if (frame.event === "orchestration.global") showTotals(frame.data);
    else if (frame.event === "orchestration.workspace") {
      showWorkspace(frame.data);
      noteSnapshot(frame.data.workspaceId);
    }
    else if (frame.event === "error") showError(frame.data.message);
  },
});
