// The projects page: create a project through the API, then open it.
import { api, showError } from "./console.js";

document.getElementById("project-create").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target.elements;
  try {
    const project = await api("POST", "/projects", {
      name: form.name.value,
      description: form.description.value || null,
    });
    location.assign(`/console/projects/${project.id}`);
  } catch (error) {
    showError(error);
  }
});
