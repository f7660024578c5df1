// Results without a page reload; the form still works as a plain GET without this script.
"use strict";
(() => {
  const form = document.getElementById("search-form");
  const status = document.getElementById("status");
  const notes = document.getElementById("notes");
  const list = document.getElementById("results");
  const button = form.querySelector("button[type=submit]");

  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    node.append(...children);
    return node;
  };
  const date = (iso) => iso.split("-").reverse().join("/");

  function render(response) {
    notes.replaceChildren();
    if (response.rewritten_query) {
      notes.append(el("p", { id: "rewritten", class: "note" }, "Đã tìm theo: ", el("q", {}, response.rewritten_query)));
    }
    if (response.results.length && !response.answerable) {
      notes.append(el("p", { id: "not-answerable", class: "note warn" },
        `Các tài liệu có thể không trả lời câu hỏi này (độ tin cậy ${response.confidence.toFixed(2)}); ` +
        "đây là những đoạn gần nhất."));
    }
    list.replaceChildren(...response.results.map((r) => {
      const c = r.citation;
      const h = r.highlight;
      const where = `/documents/${encodeURIComponent(c.doc_id)}/view?start=${c.char_start}&end=${c.char_end}#cited`;
      const label = `${c.title} (${date(c.published)})${c.section ? " · " + c.section : ""}` +
        ` · đoạn ${c.paragraphs[0]}–${c.paragraphs[1]}`;
      return el("li", { class: "result" },
        el("span", { class: "rank", "aria-label": `Hạng ${r.rank}` }, String(r.rank)),
        el("p", { class: "passage" }, r.text.slice(0, h.start), el("mark", {}, h.text), r.text.slice(h.end)),
        el("a", { class: "citation", href: where }, label));
    }));
    status.textContent = response.results.length
      ? `${response.results.length} đoạn, trong ${Math.round(response.took_ms)} ms.`
      : "Không tìm thấy đoạn nào.";
  }

  form.addEventListener("submit", async (event) => {
    const q = form.q.value.trim();
    if (!q) return;
    event.preventDefault();
    const k = form.k.value;
    const params = new URLSearchParams({ q, k });
    history.pushState({ q, k }, "", `/?${params}`);
    document.title = `${q} · viqa`;
    button.disabled = true;
    status.textContent = "Đang tìm…";
    try {
      const reply = await fetch(`/search?${new URLSearchParams({ q, top_k: k })}`, { headers: { Accept: "application/json" } });
      const body = await reply.json();
      if (!reply.ok) throw new Error(body.detail || reply.statusText);
      render(body);
    } catch (error) {
      notes.replaceChildren();
      list.replaceChildren();
      status.textContent = `Lỗi: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  });
  // Back and forward replay the search the URL holds.
  window.addEventListener("popstate", () => window.location.reload());
})();
