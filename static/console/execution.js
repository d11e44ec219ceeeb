// The execution page: the agents' output from the terminal socket (it replays the stored log,
// then streams), step statuses from the project socket, and cancel.
import { api, liveSocket, setBadge, showError } from "./console.js";

const root = document.getElementById("execution");
const projectId = Number(root.dataset.projectId);
const executionId = Number(root.dataset.executionId);
const log = document.getElementById("log");
const statusBadge = document.getElementById("execution-status");
const FINISHED = ["completed", "failed", "cancelled", "discarded", "budget_exceeded"];

function write(text) {
  const following = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
  log.append(document.createTextNode(text));
  if (following) log.scrollTop = log.scrollHeight;
}

// The message each agent is writing, token by token (``delta`` frames); the whole message that
// follows (an ``output`` frame of a ``text`` event) takes its place.
const writing = new Map();

function writeDelta(frame) {
  let line = writing.get(frame.step_run_id);
  if (!line) {
    line = document.createElement("span");
    line.className = "delta";
    writing.set(frame.step_run_id, line);
    log.append(line);
  }
  const following = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
  line.textContent += frame.data;
  if (following) log.scrollTop = log.scrollHeight;
}

function endDeltas(stepRunId) {
  writing.get(stepRunId)?.remove();
  writing.delete(stepRunId);
}

function banner(text) {
  const line = document.createElement("span");
  line.className = "banner";
  line.textContent = `${log.textContent && !log.textContent.endsWith("\n") ? "\n" : ""}── ${text} ──\n`;
  log.append(line);
}

function showStatus(status) {
  setBadge(statusBadge, status);
  if (FINISHED.includes(status)) document.getElementById("execution-cancel")?.remove();
  document.dispatchEvent(new CustomEvent("execution-status", { detail: status }));
}

function showTerminalFrame(frame) {
  switch (frame.type) {
    case "connected":
      log.replaceChildren(); // the socket replays the whole log on every connection
      writing.clear();
      break;
    case "delta":
      writeDelta(frame);
      break;
    case "info":
      banner(frame.message);
      break;
    case "output":
      if (frame.event?.kind === "text") endDeltas(frame.step_run_id);
      write(frame.data);
      break;
    case "step_start":
      banner(`${frame.step_name} started`);
      break;
    case "step_complete":
      endDeltas(frame.step_run_id);
      banner(`${frame.step_name} ${frame.success ? "completed" : "failed"}${frame.error ? `: ${frame.error}` : ""}`);
      break;
    case "status":
      banner(`execution ${frame.status}${frame.error ? `: ${frame.error}` : ""}`);
      showStatus(frame.status);
      break;
    default:
      if (typeof frame.data === "string") write(frame.data);
  }
}

liveSocket(`/projects/${projectId}/executions/${executionId}/terminal`, { onFrame: showTerminalFrame });

// The facts and the step table carry the runner's figures (times, tokens, cost): re-read them from
// the server-rendered page when a step changes, rather than render them twice.
let refreshTimer = 0;
async function refreshSteps() {
  const response = await fetch(location.href, { credentials: "same-origin" });
  if (!response.ok) return;
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  for (const selector of ["dl.facts", "#steps-title + .scroll tbody", "#pipeline"]) {
    const fresh = page.querySelector(selector);
    if (selector === "#pipeline" && typing()) continue; // never wipe answers being written
    if (fresh) document.querySelector(selector).replaceWith(fresh);
  }
}

function typing() {
  const fields = document.querySelectorAll("#review-form textarea");
  return [...fields].some((field) => field.value !== "");
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => refreshSteps().catch(showError), 300);
}

function pipelineEvent(event, data) {
  const nodeId = Number(document.getElementById("pipeline")?.dataset.nodeId);
  if (!nodeId) return false;
  if (event === "node.updated") return data.id === nodeId;
  return (event === "deliverable.created" || event === "feedback.submitted") && data.execution_id === executionId;
}

// The review form (a pipeline waiting at its gate): answers by question index, then approve or reject.
document.addEventListener("submit", async (submitted) => {
  if (submitted.target.id !== "review-form") return;
  submitted.preventDefault();
  const form = submitted.target;
  const answers = {};
  for (const field of form.querySelectorAll("textarea[name=answer]")) answers[field.dataset.index] = field.value;
  const notes = form.querySelector("textarea[name=notes]").value;
  const approved = submitted.submitter?.dataset.approved !== "false";
  const nodeId = document.getElementById("pipeline").dataset.nodeId;
  try {
    await api("POST", `/projects/${projectId}/nodes/${nodeId}/feedback`, { answers, notes: notes || null, approved });
    form.reset(); // sent: the section may be re-read now
    await refreshSteps();
  } catch (error) {
    showError(error);
  }
});

// What changed between the page's rendering and the socket's (re)opening: read it once.
async function catchUp() {
  const current = await api("GET", `/projects/${projectId}/executions/${executionId}`);
  showStatus(current.status);
  for (const stepRun of current.step_runs) {
    const badge = document.querySelector(`tr[data-step-run="${stepRun.id}"] .badge`);
    if (badge) setBadge(badge, stepRun.status);
  }
  await refreshSteps();
}

liveSocket(`/projects/${projectId}/subscribe`, {
  onOpen: () => catchUp().catch(showError),
  onFrame({ event, data }) {
    if (event === "step_run.updated" && data.execution_id === executionId) {
      const badge = document.querySelector(`tr[data-step-run="${data.id}"] .badge`);
      if (badge) setBadge(badge, data.status);
      scheduleRefresh();
    } else if (event.startsWith("execution.") && data.id === executionId) {
      showStatus(data.status);
      scheduleRefresh();
    } else if (pipelineEvent(event, data)) {
      scheduleRefresh(); // a phase, the review or a deliverable of this pipeline moved
    }
  },
});

document.getElementById("execution-cancel")?.addEventListener("click", async () => {
  try {
    showStatus((await api("POST", `/projects/${projectId}/executions/${executionId}/cancel`)).status);
  } catch (error) {
    showError(error);
  }
});
