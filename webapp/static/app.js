// imgcap pages: upload with preview, checks and progress; copy buttons; confirmations.
// Loaded from /static (the CSP allows no inline script).
"use strict";

(function () {
  const csrfToken = () => document.querySelector('meta[name="csrf-token"]').content;
  const ACCEPTED = ["image/jpeg", "image/png"];

  function setupUpload(form) {
    const input = form.querySelector("#file");
    const zone = form.querySelector("[data-drop-zone]");
    const preview = form.querySelector("#preview");
    const previewImage = form.querySelector("#preview-image");
    const previewName = form.querySelector("#preview-name");
    const error = form.querySelector("#upload-error");
    const button = form.querySelector("#upload-button");
    const progressRow = form.querySelector("#progress-row");
    const progress = form.querySelector("#upload-progress");
    const result = document.getElementById("upload-result");
    const maxBytes = Number(form.dataset.maxBytes);
    let chosen = null;

    function showError(message) {
      error.textContent = message;
      error.hidden = false;
    }

    // The server decides in the end; this spares a doomed upload of a large file.
    function choose(file) {
      error.hidden = true;
      chosen = null;
      button.disabled = true;
      preview.hidden = true;
      if (!file) return;
      if (!ACCEPTED.includes(file.type)) {
        showError("That file is not a JPEG or PNG");
        return;
      }
      if (file.size > maxBytes) {
        showError("Image too large — the limit is " + form.dataset.maxLabel);
        return;
      }
      chosen = file;
      if (previewImage.src) URL.revokeObjectURL(previewImage.src);
      previewImage.src = URL.createObjectURL(file);
      previewName.textContent = file.name + " · " + (file.size / (1024 * 1024)).toFixed(1) + " MB";
      preview.hidden = false;
      button.disabled = false;
    }

    input.addEventListener("change", () => choose(input.files[0]));
    ["dragenter", "dragover"].forEach((type) =>
      zone.addEventListener(type, (event) => {
        event.preventDefault();
        zone.classList.add("dragging");
      })
    );
    ["dragleave", "drop"].forEach((type) =>
      zone.addEventListener(type, () => zone.classList.remove("dragging"))
    );
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      choose(event.dataTransfer.files[0]);
    });

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!chosen) return;
      const body = new FormData();
      body.append("file", chosen);
      const request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.setRequestHeader("x-csrf-token", csrfToken());
      request.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) progress.value = Math.round((e.loaded / e.total) * 100);
      });
      request.addEventListener("load", () => {
        progressRow.hidden = true;
        button.disabled = false;
        if (request.status === 200 || request.status === 202) {
          result.insertAdjacentHTML("afterbegin", request.responseText);
          htmx.process(result.firstElementChild);
          input.value = "";
          preview.hidden = true;
          button.disabled = true;
          chosen = null;
        } else {
          const parsed = new DOMParser().parseFromString(request.responseText, "text/html");
          const alert = parsed.querySelector(".alert");
          showError(alert ? alert.textContent : "The upload failed — please try again");
        }
      });
      request.addEventListener("error", () => {
        progressRow.hidden = true;
        button.disabled = false;
        showError("The upload was interrupted — check your connection and try again");
      });
      progress.value = 0;
      progressRow.hidden = false;
      button.disabled = true;
      error.hidden = true;
      request.send(body);
    });
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-copy-target]");
    if (!button) return;
    const text = document.getElementById(button.dataset.copyTarget).textContent.trim();
    navigator.clipboard.writeText(text).then(() => {
      const label = button.firstChild;
      const before = label.textContent;
      label.textContent = "Copied";
      button.classList.add("copied");
      setTimeout(() => {
        label.textContent = before;
        button.classList.remove("copied");
      }, 1500);
    });
  });

  document.addEventListener("submit", (event) => {
    const message = event.target.dataset && event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("upload-form");
    if (form) setupUpload(form);
  });
})();
