// An execution's changes (GET …/diff): the file list with counts, each file's patch coloured by
// line and folded when large, and Merge / Push / Open pull request / Discard worktree with their
// answer, or the conflicting files, shown in place.
import { api, showError } from "./console.js";

const section = document.getElementById("changes");
const root = document.getElementById("execution");
const FOLD_LINES = 200;

if (section) {
  const base = `/projects/${root.dataset.projectId}/executions/${root.dataset.executionId}`;
  const files = document.getElementById("changed-files");
  const diffs = document.getElementById("file-diffs");
  const result = document.getElementById("landing-result");

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function patchOf(patch) {
    const pre = document.createElement("pre");
    pre.className = "patch";
    for (const line of patch.split("\n")) {
      const span = document.createElement("span");
      if (line.startsWith("+") && !line.startsWith("+++")) span.className = "add";
      else if (line.startsWith("-") && !line.startsWith("---")) span.className = "del";
      else if (line.startsWith("@@")) span.className = "hunk";
      span.textContent = `${line}\n`;
      pre.append(span);
    }
    return pre;
  }

  function filePatches(patch) {
    // "diff --git a/x b/x" starts each file's part of the patch.
    const parts = patch.split(/^(?=diff --git )/m).filter((part) => part.startsWith("diff --git "));
    return parts;
  }

  async function load() {
    const diff = await api("GET", `${base}/diff`);
    files.replaceChildren();
    diffs.replaceChildren();
    if (!diff.files.length) {
      const row = document.createElement("tr");
      row.className = "empty";
      row.append(cell("No changes against the start.", ""));
      row.firstChild.colSpan = 4;
      files.append(row);
    }
    const parts = filePatches(diff.patch);
    diff.files.forEach((file, index) => {
      const row = document.createElement("tr");
      const name = document.createElement("th");
      name.scope = "row";
      const link = document.createElement("a");
      link.href = `#file-${index}`;
      link.textContent = file.old_path ? `${file.old_path} → ${file.path}` : file.path;
      name.append(link);
      row.append(name, cell(file.binary ? `${file.status} (binary)` : file.status),
        cell(String(file.additions), "num"), cell(String(file.deletions), "num"));
      files.append(row);
      const part = parts.find((text) => text.includes(` b/${file.path}\n`)) || "";
      const details = document.createElement("details");
      details.id = `file-${index}`;
      details.open = part.split("\n").length <= FOLD_LINES; // large ones folded
      const summary = document.createElement("summary");
      summary.textContent = `${file.path} (+${file.additions} −${file.deletions})`;
      details.append(summary, patchOf(part || "(no patch shown: see the cap note below)"));
      diffs.append(details);
    });
    if (diff.truncated) {
      const note = document.createElement("p");
      note.className = "muted";
      note.textContent = "The patch was cut at ORCHESTRA_DIFF_MAX_BYTES; the counts above are whole.";
      diffs.append(note);
    }
  }

  function say(text, conflicts) {
    result.replaceChildren();
    const line = document.createElement("p");
    line.textContent = text;
    result.append(line);
    if (conflicts && conflicts.length) {
      const list = document.createElement("ul");
      for (const path of conflicts) {
        const item = document.createElement("li");
        item.textContent = path;
        list.append(item);
      }
      result.append(list);
    }
  }

  async function act(method, path, body, describe) {
    const response = await fetch(`${base}/${path}`, {
      method,
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": document.querySelector('meta[name="csrf-token"]')?.content || "",
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      say(data.detail || `HTTP ${response.status}`, data.conflicts);
      return;
    }
    say(describe(data));
    await load();
  }

  const on = (id, handler) => document.getElementById(id)?.addEventListener("click", () => handler().catch(showError));
  on("land-merge", () => act("POST", "merge", { strategy: document.getElementById("merge-strategy").value },
    (data) => `Merged into ${data.target} as ${data.commit.slice(0, 12)} (${data.strategy}).`));
  on("land-push", () => act("POST", "push", {}, (data) => `Pushed ${data.branch} to ${data.remote}.`));
  on("land-pull-request", () => act("POST", "pull-request", {}, (data) => `Pull request opened: ${data.url}`));
  on("land-discard", () => act("DELETE", "worktree", undefined, () => "The worktree was removed; its branch stays."));

  load().catch((error) => {
    files.replaceChildren();
    const row = document.createElement("tr");
    row.append(cell(error.message, "error"));
    row.firstChild.colSpan = 4;
    files.append(row);
  });
}
