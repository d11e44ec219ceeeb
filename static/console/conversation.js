// The execution page's conversation: each prompt and each final answer (from the execution's
// detail, then `execution.message` events), a box to send the next message into the same agent
// session, and, for a best-of-N group, each attempt's status and files changed.
import { api, liveSocket, setBadge, showError } from "./console.js";

const root = document.getElementById("execution");
const projectId = Number(root.dataset.projectId);
const executionId = Number(root.dataset.executionId);
const base = `/projects/${projectId}/executions/${executionId}`;
const list = document.getElementById("conversation-entries");
const form = document.getElementById("message-form");
const prompt = document.getElementById("message-prompt");
const send = document.getElementById("message-send");
const hint = document.getElementById("message-hint");
const CONTINUABLE = ["completed", "failed", "cancelled", "budget_exceeded"];
const seen = new Set();

function entryKey(entry) {
  return `${entry.step_run_id}:${entry.role}`;
}

function showEntry(entry) {
  const key = entryKey(entry);
  let item = list.querySelector(`[data-key="${key}"]`);
  if (!item) {
    item = document.createElement("li");
    item.dataset.key = key;
    item.className = `turn ${entry.role}`;
    const head = document.createElement("p");
    head.className = "muted";
    const body = document.createElement("pre");
    item.append(head, body);
    list.append(item);
  }
  seen.add(key);
  const when = entry.at ? new Date(entry.at).toLocaleString() : "";
  item.querySelector("p").textContent = `${entry.role === "user" ? "Prompt" : "Answer"} · ${when}`;
  const text = entry.text ?? (entry.error ? `(no answer: ${entry.error})` : "(no answer)");
  item.querySelector("pre").textContent = text;
}

function allowSending(status) {
  const open = CONTINUABLE.includes(status);
  send.disabled = !open;
  prompt.disabled = !open;
  hint.textContent = open
    ? ""
    : status === "discarded"
      ? "This attempt was discarded."
      : "The agent is working; send the next message when it has finished.";
}

async function load() {
  const detail = await api("GET", base);
  list.replaceChildren();
  seen.clear();
  for (const entry of detail.conversation) showEntry(entry);
  allowSending(detail.status);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  send.disabled = true;
  try {
    await api("POST", `${base}/messages`, { prompt: prompt.value });
    prompt.value = "";
    allowSending("pending");
  } catch (error) {
    showError(error);
    send.disabled = false;
  }
});

document.addEventListener("execution-status", ({ detail }) => allowSending(detail));

liveSocket(`/projects/${projectId}/subscribe`, {
  onOpen: () => load().catch(showError),
  onFrame({ event, data }) {
    if (event === "execution.message" && data.execution_id === executionId) {
      showEntry(data);
    } else if (event === "execution.updated") {
      const badge = document.querySelector(`.attempt[data-execution="${data.id}"] [data-attempt-status]`);
      if (badge) setBadge(badge, data.status);
    }
  },
});

// Landing one attempt merges its branch (the hub then discards the others and removes their
// worktrees); a refusal (a conflict, a target that moved) is shown on the attempt.
for (const button of document.querySelectorAll("[data-land-attempt]")) {
  button.addEventListener("click", () => {
    const attempt = button.closest(".attempt");
    const result = attempt.querySelector("[data-land-result]");
    button.disabled = true;
    api("POST", `/projects/${projectId}/executions/${button.dataset.landAttempt}/merge`, { strategy: "merge" })
      .then((data) => {
        result.textContent = `Merged into ${data.target} as ${data.commit.slice(0, 12)}.`;
        button.remove();
      })
      .catch((error) => {
        result.textContent = error.message;
        button.disabled = false;
      });
  });
}

// Files changed by each attempt, from its diff where the hub offers one.
for (const attempt of document.querySelectorAll(".attempt[data-execution]")) {
  api("GET", `/projects/${projectId}/executions/${attempt.dataset.execution}/diff`)
    .then((diff) => {
      const files = diff?.stats?.files;
      if (files !== undefined) attempt.querySelector("[data-files-changed]").textContent = String(files);
    })
    .catch(() => {}); // no diff (not a git repository, or not run yet): the dash stays
}
