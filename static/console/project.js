// The project page: the DAG drawn from the graph, kept live by the project socket; node, edge and
// launch forms that write through the REST API; whole-DAG runs when the hub offers them.
import { api, coalesce, escapeHtml, liveSocket, setBadge, showError } from "./console.js";
import { renderDag } from "./dag.js";

const root = document.getElementById("project");
const projectId = Number(root.dataset.projectId);
const dagRunsUrl = root.dataset.dagRunsUrl || null;
const nodes = new Map(JSON.parse(document.getElementById("graph-data").textContent).nodes.map((n) => [n.id, n]));
const dag = document.getElementById("dag");
const nodeForm = document.getElementById("node-form");
let selectedId = null;

const nodeList = () => [...nodes.values()].sort((a, b) => a.id - b.id);

function fillNodeOptions() {
  for (const select of document.querySelectorAll("select.node-options")) {
    const chosen = new Set([...select.selectedOptions].map((option) => option.value));
    select.replaceChildren(
      ...nodeList()
        .filter((node) => !(select.id === "node-parents" && node.id === selectedId))
        .map((node) => new Option(node.title, node.id, false, chosen.has(String(node.id)))),
    );
  }
}

const redraw = coalesce(() => {
  const list = nodeList();
  renderDag(dag, list.map((n) => ({ id: n.id, label: n.title, status: n.status, parents: n.parent_ids })), {
    selectedId,
    onSelect: selectNode,
  });
  document.getElementById("node-count").textContent = `${list.length} node${list.length === 1 ? "" : "s"}`;
  fillNodeOptions();
});

function selectNode(id) {
  const node = nodes.get(id);
  if (!node) return;
  selectedId = id;
  const fields = nodeForm.elements;
  fields.id.value = id;
  fields.title.value = node.title;
  fields.status.value = node.status;
  fields.agent_type.value = node.agent_type ?? "";
  fields.description.value = node.description ?? "";
  fields.prompt.value = node.prompt ?? "";
  document.getElementById("node-form-title").textContent = `Edit ${node.title}`;
  document.getElementById("node-save").textContent = "Save node";
  document.getElementById("node-delete").hidden = false;
  fillNodeOptions();
  for (const option of fields.parent_ids.options) option.selected = node.parent_ids.includes(Number(option.value));
  document.getElementById("launch-node").value = String(id);
  redraw();
}

function clearNodeForm() {
  selectedId = null;
  nodeForm.reset();
  nodeForm.elements.id.value = "";
  document.getElementById("node-form-title").textContent = "New node";
  document.getElementById("node-save").textContent = "Create node";
  document.getElementById("node-delete").hidden = true;
  redraw();
}

// An answer to this page's own write can reach it after the socket's frame of a later change:
// keep the newer of the two (by updated_at), as catchUp does.
function storeNode(node) {
  const held = nodes.get(node.id);
  if (held && held.updated_at > node.updated_at) return;
  nodes.set(node.id, node);
  redraw();
}

nodeForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const fields = nodeForm.elements;
  const body = {
    title: fields.title.value,
    status: fields.status.value,
    agent_type: fields.agent_type.value || null,
    description: fields.description.value || null,
    prompt: fields.prompt.value || null,
    parent_ids: [...fields.parent_ids.selectedOptions].map((option) => Number(option.value)),
  };
  try {
    const id = fields.id.value;
    const node = await api(id ? "PATCH" : "POST", id ? `/projects/${projectId}/nodes/${id}` : `/projects/${projectId}/nodes`, body);
    storeNode(node);
    if (!id) clearNodeForm();
  } catch (error) {
    showError(error);
  }
});
document.getElementById("node-new").addEventListener("click", clearNodeForm);
document.getElementById("node-delete").addEventListener("click", async () => {
  const id = Number(nodeForm.elements.id.value);
  if (!id || !confirm(`Delete ${nodes.get(id)?.title}? Its edges go with it.`)) return;
  try {
    await api("DELETE", `/projects/${projectId}/nodes/${id}`);
    nodes.delete(id);
    clearNodeForm();
  } catch (error) {
    showError(error);
  }
});

async function changeEdge(adding) {
  const form = document.getElementById("edge-form").elements;
  const parent = Number(form.parent.value);
  const child = nodes.get(Number(form.child.value));
  if (!parent || !child) return;
  const parents = new Set(child.parent_ids);
  if (adding) parents.add(parent);
  else parents.delete(parent);
  try {
    storeNode(await api("PATCH", `/projects/${projectId}/nodes/${child.id}`, { parent_ids: [...parents] }));
  } catch (error) {
    showError(error);
  }
}
document.getElementById("edge-form").addEventListener("submit", (event) => {
  event.preventDefault();
  changeEdge(true);
});
document.getElementById("edge-remove").addEventListener("click", () => changeEdge(false));

document.getElementById("launch-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target.elements;
  const result = document.getElementById("launch-result");
  try {
    const execution = await api("POST", `/projects/${projectId}/nodes/${form.node.value}/launch`, {
      template_id: Number(form.template_id.value),
      create_worktree: form.create_worktree.checked,
    });
    showExecution(execution);
    const url = `/console/projects/${projectId}/executions/${execution.id}`;
    result.innerHTML = `Launched <a href="${url}">execution #${execution.id}</a>.`;
  } catch (error) {
    showError(error);
  }
});

// --- Executions of the project ---------------------------------------------------------------
const executionRows = document.getElementById("execution-rows");

// Executions and DAG runs only move forward (pending, running, then finished). The runner may start
// one before the page has the answer to its own launch or start, so the socket's "running" can
// arrive first; the older "pending" answer must not undo it.
function stage(status) {
  return status === "pending" ? 0 : status === "running" ? 1 : 2;
}

const executionsShown = new Map();

function showExecution(execution) {
  const held = executionsShown.get(execution.id);
  if (held && stage(held.status) > stage(execution.status)) return;
  executionsShown.set(execution.id, execution);
  let row = executionRows.querySelector(`tr[data-execution="${execution.id}"]`);
  if (!row) {
    const node = nodes.get(execution.node_id);
    const template = document.querySelector(`#launch-template option[value="${execution.template_id}"]`);
    row = document.createElement("tr");
    row.dataset.execution = execution.id;
    row.innerHTML =
      `<th scope="row"><a href="/console/projects/${projectId}/executions/${execution.id}">#${execution.id}</a></th>` +
      `<td>${escapeHtml(node ? node.title : "—")}</td><td>${escapeHtml(template ? template.textContent : "—")}</td>` +
      `<td><span class="badge"></span></td><td><time>${new Date().toLocaleString()}</time></td>`;
    executionRows.prepend(row);
  }
  setBadge(row.querySelector(".badge"), execution.status);
}

// --- Whole-DAG runs (only when the hub has them) ---------------------------------------------
const dagRuns = new Map();

function showDagRun(run) {
  const held = dagRuns.get(run.id);
  if (held && stage(held.status) > stage(run.status)) return;
  dagRuns.set(run.id, run);
  const rows = document.getElementById("dag-run-rows");
  let row = rows.querySelector(`tr[data-dag-run="${run.id}"]`);
  if (!row) {
    row = document.createElement("tr");
    row.dataset.dagRun = run.id;
    row.innerHTML = `<th scope="row">#${run.id}</th><td><span class="badge"></span></td><td class="nodes"></td><td class="started"></td>` +
      `<td><button type="button" class="danger small">Cancel</button></td>`;
    row.querySelector("button").addEventListener("click", () => cancelDagRun(run.id));
    const newer = [...rows.rows].find((other) => Number(other.dataset.dagRun) < run.id);
    rows.insertBefore(row, newer ?? null);
  }
  setBadge(row.querySelector(".badge"), run.status);
  const counts = {};
  for (const node of run.nodes ?? []) counts[node.status] = (counts[node.status] ?? 0) + 1;
  row.querySelector(".nodes").textContent = Object.entries(counts).map(([status, n]) => `${n} ${status}`).join(", ") || "—";
  row.querySelector(".started").textContent = run.started_at ? new Date(run.started_at).toLocaleString() : "—";
  row.querySelector("button").hidden = ["completed", "failed", "cancelled"].includes(run.status);
}

async function cancelDagRun(id) {
  try {
    showDagRun(await api("POST", `${dagRunsUrl}/${id}/cancel`));
  } catch (error) {
    showError(error);
  }
}

if (dagRunsUrl) {
  document.getElementById("dag-run-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const retries = Number(event.target.elements.max_retries.value || 0);
      showDagRun(await api("POST", dagRunsUrl, { max_retries: retries }));
    } catch (error) {
      showError(error);
    }
  });
  api("GET", dagRunsUrl)
    .then((page) => (Array.isArray(page) ? page : page.results ?? []).forEach(showDagRun))
    .catch(showError);
}

// --- Live ------------------------------------------------------------------------------------
// What changed between the page's rendering and the socket's (re)opening: read the graph once.
async function catchUp() {
  const known = new Set(nodes.keys());
  const graph = await api("GET", `/projects/${projectId}/graph`);
  const fresh = new Set(graph.nodes.map((node) => node.id));
  // A frame that arrived while the graph was read may be newer than it: keep the newer of the two.
  for (const id of known) if (!fresh.has(id)) nodes.delete(id);
  for (const node of graph.nodes) {
    const held = nodes.get(node.id);
    if (!held || held.updated_at <= node.updated_at) nodes.set(node.id, node);
  }
  if (selectedId !== null && !nodes.has(selectedId)) clearNodeForm();
  redraw();
}

liveSocket(`/projects/${projectId}/subscribe`, {
  onOpen: () => catchUp().catch(showError),
  onFrame({ event, data }) {
    if (event === "node.created" || event === "node.updated") storeNode(data);
    else if (event === "node.deleted") {
      nodes.delete(data.id);
      for (const node of nodes.values()) node.parent_ids = node.parent_ids.filter((id) => id !== data.id);
      if (selectedId === data.id) clearNodeForm();
      else redraw();
    } else if (event.startsWith("execution.")) showExecution(data);
    else if ((event === "dag_run.created" || event === "dag_run.updated") && dagRunsUrl) showDagRun(data);
  },
});
redraw();
