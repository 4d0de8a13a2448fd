"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const jobs = JSON.parse($("jobs").textContent);
  const where = new Map(jobs.map((j, i) => [j.id, i]));
  const grid = $("cards"), more = $("more"), empty = $("empty"), shown = $("shown");
  const byStatus = $("f-status"), byEndpoint = $("f-endpoint"), byText = $("f-text");
  const BATCH = 40;
  let order = jobs.map((_, i) => i);  // the jobs that match the filters
  let drawn = 0;  // how many of them have a card
  let hay = null;  // each job's searchable text, made at the first search

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null && text !== "") e.textContent = String(text);
    return e;
  }
  // A relative path as a URL, segment by segment: no name can turn into a scheme or a query.
  const href = (path) => path.split("/").map(encodeURIComponent).join("/");
  const money = (x) => x.toFixed(2);
  function size(n) {
    const units = ["bytes", "kB", "MB", "GB"];
    let i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return i ? n.toFixed(1) + " " + units[i] : n + " bytes";
  }

  function file(f) {
    let m;
    if (f.k === "image") {
      m = el("img");
      m.loading = "lazy";
      m.decoding = "async";
      m.alt = f.p;
      m.src = href(f.p);
    } else if (f.k === "video" || f.k === "audio") {
      m = el(f.k);
      m.controls = true;
      m.preload = "none";
      m.src = href(f.p);
    } else if (f.k === "text") {
      m = el("pre", "text", f.x);
    } else if (f.k === "link") {
      m = el("a", "file", "remote result (not downloaded): " + f.u);
      m.href = f.u;
      m.rel = "noopener noreferrer";
    } else {
      m = el("a", "file", f.p + (typeof f.b === "number" ? " (" + size(f.b) + ")" : ""));
      m.href = href(f.p);
    }
    if (!f.n) return m;
    const box = el("div");
    box.append(m, el("div", "node", "node " + f.n));
    return box;
  }

  function card(i) {
    const j = jobs[i];
    const c = el("article", "card st-" + j.st);
    c.id = "job-" + i;
    const files = el("div", "files");
    for (const f of j.f) files.appendChild(file(f));
    if (!j.f.length) files.appendChild(el("div", "none", "no files"));
    const body = el("div", "body");
    const head = el("div", "head");
    head.append(el("span", "badge st-" + j.st, j.st), el("span", "jid", j.id));
    body.append(head, el("div", "ep", j.ep));
    if (j.pr) body.appendChild(el("p", "prompt", j.pr));
    if (j.ec || j.em) body.appendChild(el("p", "err", [j.ec, j.em].filter(Boolean).join(": ")));
    if (j.us && Object.keys(j.us).length) {
      const uses = el("div", "uses", "uses ");
      for (const [name, id] of Object.entries(j.us)) {
        const at = where.get(id);
        const a = el(at === undefined ? "span" : "a", "", name + ": " + id);
        if (at !== undefined) { a.href = "#job-" + at; a.dataset.job = at; }
        uses.appendChild(a);
      }
      body.appendChild(uses);
    }
    const meta = [typeof j.bi === "number" ? "billed " + money(j.bi) + " CNY" : "not billed"];
    if (typeof j.qu === "number") meta.push("quoted " + money(j.qu));
    if (j.at) meta.push(j.at + (j.at === 1 ? " attempt" : " attempts"));
    if (j.fi) meta.push("finished " + j.fi.replace("T", " ").replace(/\.\d+Z$/, " UTC"));
    body.appendChild(el("div", "meta", meta.join(" · ")));
    const all = el("details");
    all.appendChild(el("summary", "", "parameters"));
    all.appendChild(el("pre", "", JSON.stringify(j.pa, null, 2)));
    if (j.so) all.appendChild(el("pre", "", "local sources " + JSON.stringify(j.so, null, 2)));
    if (j.tk) all.appendChild(el("pre", "", "tasks " + j.tk.join(", ")));
    body.appendChild(all);
    c.append(files, body);
    if (j.vs && j.vs.length) {
      c.classList.add("has-versions");
      c.appendChild(versions(j));
    }
    return c;
  }

  // A job's versions side by side, oldest first, the current one last: each with its
  // files, status and bill, and its parameters, those that differ from its neighbour's
  // marked.
  function versions(j) {
    const all = j.vs.concat([{ v: j.vn || j.vs.length + 1, st: j.st, bi: j.bi, pa: j.pa,
      f: j.f, now: true }]);
    const box = el("details", "versions");
    box.open = true;
    box.appendChild(el("summary", "", all.length + " versions of " + j.id + ", side by side"));
    const row = el("div", "vrow");
    all.forEach((x, k) => {
      const col = el("section", "vcol st-" + x.st + (x.now ? " now" : ""));
      const bill = typeof x.bi === "number" ? "billed " + money(x.bi) + " CNY" : "bill not known";
      col.appendChild(el("div", "vhead", "v" + x.v + (x.now ? " (current)" : "") + " · " +
        x.st + " · " + bill));
      const files = el("div", "files");
      for (const f of x.f) files.appendChild(file(f));
      if (!x.f.length) files.appendChild(el("div", "none", "no files"));
      col.appendChild(files);
      const other = all[k === 0 ? 1 : k - 1];
      if (!x.pa) {
        col.appendChild(el("p", "meta", "parameters not recorded (an older rhbatch)"));
      } else {
        const list = el("dl", "vpa");
        const names = new Set(Object.keys(x.pa).concat(Object.keys((other && other.pa) || {})));
        for (const name of names) {
          const a = x.pa[name], b = other && other.pa ? other.pa[name] : undefined;
          const differs = JSON.stringify(a) !== JSON.stringify(b);
          const text = a === undefined ? "(not set)" : typeof a === "string" ? a :
            JSON.stringify(a);
          list.append(el("dt", differs ? "diff" : "", name), el("dd", differs ? "diff" : "", text));
        }
        col.appendChild(list);
      }
      row.appendChild(col);
    });
    box.appendChild(row);
    return box;
  }

  function draw() {
    const end = Math.min(order.length, drawn + BATCH);
    const part = document.createDocumentFragment();
    for (; drawn < end; drawn++) part.appendChild(card(order[drawn]));
    grid.appendChild(part);
    more.hidden = drawn >= order.length;
    empty.hidden = order.length > 0;
    shown.textContent = order.length.toLocaleString() + " of " + jobs.length.toLocaleString() +
      " jobs" + (drawn < order.length ? " (" + drawn.toLocaleString() + " drawn)" : "");
  }
  // Draws a batch each time the end of the cards comes near; asks again after each
  // batch, since a tall window may need several.
  const watcher = new IntersectionObserver((seen) => {
    if (seen.some((e) => e.isIntersecting)) { draw(); ask(); }
  }, { rootMargin: "0px 0px 1200px 0px" });
  function ask() { watcher.unobserve(more); watcher.observe(more); }

  function filter() {
    const st = byStatus.value, ep = byEndpoint.value;
    const words = byText.value.toLowerCase().split(/\s+/).filter(Boolean);
    if (words.length && !hay) {
      hay = jobs.map((j) => [j.id, j.ep, j.st, j.pr, j.ec, j.em, JSON.stringify(j.pa)]
        .join("\n").toLowerCase());
    }
    order = [];
    for (let i = 0; i < jobs.length; i++) {
      const j = jobs[i];
      if ((st && j.st !== st) || (ep && j.ep !== ep)) continue;
      if (words.length && !words.every((w) => hay[i].includes(w))) continue;
      order.push(i);
    }
    grid.replaceChildren();
    drawn = 0;
    draw();
    ask();
  }

  function reveal(i) {
    let at = order.indexOf(i);
    if (at < 0) {
      byStatus.value = byEndpoint.value = byText.value = "";
      filter();
      at = i;
    }
    while (drawn <= at) draw();
    const c = $("job-" + i);
    c.scrollIntoView({ block: "center" });
    c.classList.add("flash");
    setTimeout(() => c.classList.remove("flash"), 1500);
  }

  byStatus.addEventListener("change", filter);
  byEndpoint.addEventListener("change", filter);
  let typing = 0;
  byText.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(filter, 150);
  });
  grid.addEventListener("click", (ev) => {
    const a = ev.target.closest("a[data-job]");
    if (!a) return;
    ev.preventDefault();
    history.replaceState(null, "", a.getAttribute("href"));
    reveal(Number(a.dataset.job));
  });
  draw();
  ask();
  const asked = /^#job-(\d+)$/.exec(location.hash);
  if (asked && Number(asked[1]) < jobs.length) reveal(Number(asked[1]));
})();
