// A template's steps drawn as a DAG (the same drawing as a project's graph).
import { renderDag } from "./dag.js";

const template = JSON.parse(document.getElementById("template-data").textContent);
renderDag(
  document.getElementById("dag"),
  template.steps.map((step) => ({ id: step.id, label: step.name, status: step.agent_type, parents: step.parent_ids })),
);
