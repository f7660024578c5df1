// The documents page's writes, through the API; the token stays in this tab's session storage.
"use strict";
(() => {
  const KEY = "viqa-admin-token";
  // Shown only here: without this script the forms could not keep the token out of URLs.
  document.getElementById("admin").hidden = false;
  for (const button of document.querySelectorAll("button.remove")) button.hidden = false;
  const status = document.getElementById("admin-status");
  const tokenInput = document.getElementById("token");
  const upload = document.getElementById("upload-form");
  tokenInput.value = sessionStorage.getItem(KEY) || "";

  document.getElementById("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, tokenInput.value.trim());
    status.textContent = "Đã lưu mã cho phiên này.";
  });
  document.getElementById("forget-token").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    tokenInput.value = "";
    status.textContent = "Đã quên mã.";
  });

  async function send(method, path, body) {
    const token = sessionStorage.getItem(KEY) || tokenInput.value.trim();
    if (!token) throw new Error("Hãy nhập mã quản trị trước.");
    const headers = { Authorization: `Bearer ${token}` };
    if (typeof body === "string") headers["Content-Type"] = "application/json";
    const reply = await fetch(path, { method, headers, body });
    const answer = await reply.json();
    if (!reply.ok) throw new Error(answer.detail || reply.statusText);
    return answer;
  }

  upload.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = ["title", "published", "author", "url"];
    const file = upload.file.files[0];
    const text = upload.text.value;
    let body;
    if (file) {
      body = new FormData();
      body.append("file", file);
      for (const name of fields) if (upload[name].value) body.append(name, upload[name].value);
    } else if (text.trim()) {
      const json = { text };
      for (const name of fields) json[name] = upload[name].value || null;
      body = JSON.stringify(json);
    } else {
      status.textContent = "Chọn một tệp hoặc dán văn bản.";
      return;
    }
    status.textContent = "Đang thêm và lập chỉ mục…";
    try {
      const answer = await send("POST", "/documents", body);
      const doc = await (await fetch(`/documents/${encodeURIComponent(answer.doc_id)}`)).json();
      addRow(doc);
      upload.reset();
      status.textContent = `Đã thêm ${answer.doc_id}: ${doc.chunk_count} đoạn.`;
    } catch (error) {
      status.textContent = `Lỗi: ${error.message}`;
    }
  });

  function addRow(doc) {
    const row = document.createElement("tr");
    row.dataset.docId = doc.doc_id;
    const link = Object.assign(document.createElement("a"), { href: `/documents/${encodeURIComponent(doc.doc_id)}/view`, textContent: doc.title });
    const time = Object.assign(document.createElement("time"), { dateTime: doc.published, textContent: doc.published.split("-").reverse().join("/") });
    const remove = Object.assign(document.createElement("button"), { type: "button", className: "remove", textContent: "Xóa" });
    remove.dataset.docId = doc.doc_id;
    remove.setAttribute("aria-label", `Xóa ${doc.title}`);
    wire(remove);
    const cells = [link, time, String(doc.chunk_count), remove].map((child) => {
      const cell = document.createElement("td");
      cell.append(child);
      return cell;
    });
    cells[3].className = "admin-only";
    row.append(...cells);
    document.querySelector("#documents tbody").prepend(row);
  }

  function wire(button) {
    button.addEventListener("click", async () => {
      const id = button.dataset.docId;
      if (!window.confirm(`Xóa tài liệu ${id}?`)) return;
      status.textContent = `Đang xóa ${id}…`;
      try {
        await send("DELETE", `/documents/${encodeURIComponent(id)}`);
        button.closest("tr").remove();
        status.textContent = `Đã xóa ${id}.`;
      } catch (error) {
        status.textContent = `Lỗi: ${error.message}`;
      }
    });
  }
  document.querySelectorAll("button.remove").forEach(wire);
})();
