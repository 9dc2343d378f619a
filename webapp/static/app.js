// imgcap pages: upload of one or many photos with checks and progress per file; copy buttons; confirmations.
// Loaded from /static (the CSP allows no inline script).
"use strict";

(function () {
  const csrfToken = () => document.querySelector('meta[name="csrf-token"]').content;
  const ACCEPTED = ["image/jpeg", "image/png"];

  // The server takes one file per request: each chosen photo is its own upload, two at a
  // time, with its own progress bar and status line, so one refused file stops no other.
  const PARALLEL = 2;

  function setupUpload(form) {
    const input = form.querySelector("#file");
    const zone = form.querySelector("[data-drop-zone]");
    const button = form.querySelector("#upload-button");
    const list = document.getElementById("upload-list");
    const historyLink = document.getElementById("upload-history");
    const result = document.getElementById("upload-result");
    const maxBytes = Number(form.dataset.maxBytes);
    let ready = []; // chosen and checked, not sent yet
    let waiting = []; // submitted, waiting for a free slot
    let active = 0;

    function setState(entry, state, message) {
      entry.item.dataset.state = state;
      entry.status.textContent = message;
    }

    // The server decides in the end; these checks spare doomed uploads of large files.
    function add(file) {
      const item = document.createElement("li");
      item.className = "upload-item";
      const name = document.createElement("p");
      name.className = "upload-name";
      name.textContent = file.name + " · " + (file.size / (1024 * 1024)).toFixed(1) + " MB";
      const progress = document.createElement("progress");
      progress.max = 100;
      progress.value = 0;
      progress.hidden = true;
      progress.setAttribute("aria-label", "Upload of " + file.name);
      const status = document.createElement("p");
      status.className = "upload-status";
      item.append(name, progress, status);
      list.append(item);
      const entry = { file, item, progress, status };
      if (!ACCEPTED.includes(file.type)) {
        setState(entry, "error", "That file is not a JPEG or PNG");
      } else if (file.size > maxBytes) {
        setState(entry, "error", "Image too large — the limit is " + form.dataset.maxLabel);
      } else {
        setState(entry, "ready", "Ready to upload");
        ready.push(entry);
      }
    }

    function choose(files) {
      Array.from(files).forEach(add);
      button.disabled = ready.length === 0;
    }

    // The card polls itself (htmx) until its captions are written; the same photo uploaded
    // again answers the existing card, which replaces its older copy.
    function showCard(html) {
      const template = document.createElement("template");
      template.innerHTML = html.trim();
      const card = template.content.firstElementChild;
      const older = card.id && document.getElementById(card.id);
      if (older) older.replaceWith(card);
      else result.prepend(card);
      htmx.process(card);
      historyLink.hidden = false;
    }

    function serverMessage(request) {
      const parsed = new DOMParser().parseFromString(request.responseText, "text/html");
      const alert = parsed.querySelector(".alert");
      if (alert) return alert.textContent.trim();
      return "The upload failed (error " + request.status + ") — please try again";
    }

    function send(entry) {
      active += 1;
      setState(entry, "uploading", "Uploading…");
      entry.progress.hidden = false;
      const body = new FormData();
      body.append("file", entry.file);
      const request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.setRequestHeader("x-csrf-token", csrfToken());
      request.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) entry.progress.value = Math.round((e.loaded / e.total) * 100);
      });
      request.addEventListener("loadend", () => {
        active -= 1;
        entry.progress.hidden = true;
        if (request.status === 200 || request.status === 202) {
          showCard(request.responseText);
          const fresh = request.status === 202;
          setState(entry, "done", fresh
            ? "Uploaded — its captions appear below"
            : "Already uploaded — its captions are below");
        } else if (request.status === 0) {
          setState(entry, "error",
            "The upload was interrupted — check your connection and try again");
        } else {
          const message = serverMessage(request);
          setState(entry, "error", message);
          // The upload limit is spent: the files still waiting would be refused the same way.
          if (request.status === 429) {
            waiting.splice(0).forEach((next) => setState(next, "error", message));
          }
        }
        pump();
      });
      request.send(body);
    }

    function pump() {
      while (active < PARALLEL && waiting.length > 0) send(waiting.shift());
    }

    input.addEventListener("change", () => {
      choose(input.files);
      // Lets the same file be chosen again after a failure.
      input.value = "";
    });
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
      choose(event.dataTransfer.files);
    });

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      ready.forEach((entry) => setState(entry, "waiting", "Waiting to upload"));
      waiting = waiting.concat(ready);
      ready = [];
      button.disabled = true;
      pump();
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
