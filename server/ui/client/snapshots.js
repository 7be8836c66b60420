// Snapshots: the list (filtered by host, tag and path, paged so thousands stay fast), a snapshot's tree
// (directories fetched as they open, long directories rendered in batches), download of a file or a
// folder as tar, restore to a path on the server, and the diff of two snapshots.
import { download, json, seg } from "./api.js";
import { badge, bytes, count, errorLine, fill, h, heading, join, measurePainted, mode, time } from "./dom.js";

const PAGE = 50;
const BATCH = 200;
const isDir = (e) => e.type === "dir" || e.type === "directory";

async function pickRepository(ctx) {
  const repos = await json("/repositories", { signal: ctx.signal });
  if (repos.length === 1) {
    location.replace(`#/snapshots/${seg(repos[0].name)}`);
    return;
  }
  fill(
    ctx.view,
    heading("Snapshots"),
    repos.length
      ? h("ul", null, repos.map((r) => h("li", null, h("a", { href: `#/snapshots/${seg(r.name)}` }, r.name))))
      : h("p", null, "No repositories configured."),
  );
}

/** #/snapshots/REPO: the filtered, paged list, with two rows picked for a diff. */
export async function snapshotsPage(ctx, repo) {
  if (!repo) return pickRepository(ctx);
  const all = (await json(`/repositories/${seg(repo)}/snapshots`, { signal: ctx.signal }))
    .sort((a, b) => String(b.time).localeCompare(String(a.time)));
  const hosts = [...new Set(all.map((s) => s.host))].sort();
  const tags = [...new Set(all.flatMap((s) => s.tags ?? []))].sort();
  const q = ctx.query;
  const host = h(
    "select",
    { name: "host" },
    h("option", { value: "" }, "all"),
    hosts.map((x) => h("option", { value: x, selected: q.get("host") === x }, x)),
  );
  const tag = h(
    "select",
    { name: "tag" },
    h("option", { value: "" }, "all"),
    tags.map((x) => h("option", { value: x, selected: q.get("tag") === x }, x)),
  );
  const path = h("input", { name: "path", type: "search", value: q.get("path") ?? "", placeholder: "/home" });
  const field = (label, control) => h("label", null, h("span", null, label), control);
  const picked = new Set();
  const diffBtn = h("button", {
    type: "button",
    disabled: true,
    onclick: () => {
      const [a, b] = [...picked].map((id) => all.find((s) => s.id === id)).sort((x, y) =>
        String(x.time).localeCompare(String(y.time))
      );
      location.hash = `#/diff/${seg(repo)}/${seg(a.id)}/${seg(b.id)}`;
    },
  }, "Diff the two picked");
  const body = h("tbody");
  const pager = h("nav", { class: "pager", "aria-label": "Pages of snapshots" });
  const summary = h("p", { class: "muted", role: "status" });
  let list = all, page = 0;

  function apply() {
    const p = path.value.trim();
    list = all.filter((s) =>
      (!host.value || s.host === host.value) && (!tag.value || (s.tags ?? []).includes(tag.value)) &&
      (!p || (s.paths ?? []).some((x) => x.includes(p)))
    );
    page = 0;
    render();
  }
  function render() {
    const pages = Math.max(1, Math.ceil(list.length / PAGE));
    page = Math.min(page, pages - 1);
    summary.textContent = `${count(list.length)} of ${count(all.length)} snapshots`;
    fill(
      body,
      list.slice(page * PAGE, page * PAGE + PAGE).map((s) => {
        const box = h("input", {
          type: "checkbox",
          "aria-label": `Pick ${s.short_id ?? s.id} for a diff`,
          checked: picked.has(s.id),
          onchange: () => {
            if (box.checked) picked.add(s.id);
            else picked.delete(s.id);
            while (picked.size > 2) picked.delete(picked.values().next().value);
            diffBtn.disabled = picked.size !== 2;
            render();
          },
        });
        return h(
          "tr",
          null,
          h("td", null, box),
          h(
            "td",
            null,
            h("a", { href: `#/snapshots/${seg(repo)}/${seg(s.id)}` }, s.short_id ?? String(s.id).slice(0, 8)),
          ),
          h("td", null, time(s.time)),
          h("td", null, s.host ?? "–"),
          h("td", null, (s.tags ?? []).join(", ")),
          h("td", { class: "paths" }, (s.paths ?? []).join(" ")),
          h("td", { class: "num" }, bytes(s.summary?.data_added)),
        );
      }),
    );
    const go = (p) => () => {
      page = p;
      render();
      body.querySelector("a")?.focus();
    };
    fill(
      pager,
      h("button", { type: "button", disabled: page === 0, onclick: go(page - 1) }, "← Newer"),
      h("span", null, ` Page ${page + 1} of ${pages} `),
      h("button", { type: "button", disabled: page >= pages - 1, onclick: go(page + 1) }, "Older →"),
    );
  }
  const form = h(
    "form",
    { class: "filters", "aria-label": "Filter snapshots", onsubmit: (e) => (e.preventDefault(), apply()) },
    field("Host", host),
    field("Tag", tag),
    field("Path contains", path),
    h("button", { type: "submit" }, "Filter"),
  );
  host.addEventListener("change", apply);
  tag.addEventListener("change", apply);
  fill(
    ctx.view,
    h("p", { class: "crumbs" }, h("a", { href: "#/snapshots" }, "Snapshots"), " / ", repo),
    heading(`Snapshots of ${repo}`),
    form,
    h("p", null, summary, " ", diffBtn),
    h(
      "div",
      { class: "scroll" },
      h(
        "table",
        null,
        h("caption", { class: "sr" }, "Snapshots, newest first"),
        h(
          "thead",
          null,
          h(
            "tr",
            null,
            ["Diff", "ID", "Time", "Host", "Tags", "Paths", "Added"].map((t) => h("th", { scope: "col" }, t)),
          ),
        ),
        body,
      ),
    ),
    pager,
  );
  apply();
}

function restoreDialog(repo, snapshot) {
  const target = h("input", {
    name: "target",
    required: true,
    placeholder: "/srv/restore",
    spellcheck: false,
  });
  const overwrite = h(
    "select",
    { name: "overwrite" },
    h("option", { value: "never" }, "never (keep existing files)"),
    h("option", { value: "if-changed" }, "if changed"),
    h("option", { value: "always" }, "always"),
  );
  const include = h("input", { name: "include", placeholder: "*.jpg, docs/**" });
  const exclude = h("input", { name: "exclude", placeholder: "*.tmp" });
  const what = h("code");
  const result = h("div", { role: "status" });
  const submit = h("button", { type: "submit" }, "Restore");
  let path = "/";
  const globs = (input) => input.value.split(",").map((x) => x.trim()).filter(Boolean);
  const field = (label, control) => h("label", null, h("span", null, label), control);
  const dialog = h(
    "dialog",
    { class: "restore", "aria-labelledby": "restore-title" },
    h(
      "form",
      {
        onsubmit: async (e) => {
          e.preventDefault();
          submit.disabled = true;
          try {
            const body = { snapshot, path, target: target.value.trim(), overwrite: overwrite.value };
            if (globs(include).length) body.include = globs(include);
            if (globs(exclude).length) body.exclude = globs(exclude);
            const run = await json(`/repositories/${seg(repo)}/restore`, { method: "POST", body });
            fill(
              result,
              h(
                "p",
                null,
                "Restore started: ",
                h("a", { href: `#/runs/${seg(run.id)}` }, `run ${String(run.id).slice(0, 12)}`),
                " ",
                badge(run.status),
              ),
            );
          } catch (err) {
            fill(result, errorLine(err));
          } finally {
            submit.disabled = false;
          }
        },
      },
      h("h2", { id: "restore-title" }, "Restore ", what),
      field("Target directory on the server", target),
      field("Overwrite", overwrite),
      field("Include (globs, comma-separated)", include),
      field("Exclude (globs, comma-separated)", exclude),
      h("p", { class: "muted" }, "The target must lie inside the server's restore roots."),
      result,
      h(
        "div",
        { class: "buttons" },
        submit,
        h("button", { type: "button", onclick: () => dialog.close() }, "Close"),
      ),
    ),
  );
  return {
    dialog,
    open(p) {
      path = p;
      what.textContent = p;
      result.replaceChildren();
      dialog.showModal();
      target.focus();
    },
  };
}

/** #/snapshots/REPO/ID: facts and the tree. */
export async function snapshotPage(ctx, repo, id) {
  const snap = await json(`/repositories/${seg(repo)}/snapshots/${seg(id)}`, { signal: ctx.signal });
  const restore = restoreDialog(repo, snap.id ?? id);
  const status = h("p", { role: "status", class: "muted" });
  const base = `/repositories/${seg(repo)}/snapshots/${seg(snap.id ?? id)}`;
  const act = async (label, fn) => {
    status.textContent = `${label}…`;
    try {
      await fn();
      status.textContent = `${label}: done`;
    } catch (err) {
      status.replaceChildren(errorLine(err));
    }
  };

  function row(e, dir, depth) {
    const p = join(dir, e.name);
    const actions = h(
      "span",
      { class: "actions" },
      h("button", {
        type: "button",
        "data-action": "download",
        "aria-label": `Download ${p}${isDir(e) ? " as tar" : ""}`,
        onclick: () =>
          act(
            `Download ${p}`,
            () => download(`${base}/content`, { path: p }, isDir(e) ? `${e.name}.tar` : e.name),
          ),
      }, isDir(e) ? "tar" : "Download"),
      h("button", {
        type: "button",
        "data-action": "restore",
        "aria-label": `Restore ${p}`,
        onclick: () => restore.open(p),
      }, "Restore…"),
    );
    const meta = [
      h("span", { class: "size num" }, isDir(e) ? "" : bytes(e.size)),
      h("span", { class: "mode" }, mode(e.mode)),
      h("span", { class: "mtime" }, time(e.mtime)),
    ];
    const li = h("li");
    if (isDir(e)) {
      const kids = h("ul", { hidden: true });
      let loaded = false;
      const toggle = h("button", {
        type: "button",
        class: "name dir",
        "aria-expanded": "false",
        "data-path": p,
        style: { "--depth": depth },
        onclick: async () => {
          const open = toggle.getAttribute("aria-expanded") !== "true";
          toggle.setAttribute("aria-expanded", String(open));
          kids.hidden = !open;
          if (open && !loaded) {
            loaded = true;
            await openDir(p, kids, depth + 1).catch((err) => {
              loaded = false;
              fill(kids, h("li", null, errorLine(err)));
            });
          }
        },
      }, `${e.name}/`);
      li.append(h("div", { class: "row" }, toggle, meta, actions), kids);
    } else {
      li.append(
        h(
          "div",
          { class: "row" },
          h(
            "span",
            { class: `name ${e.type ?? ""}`, tabindex: "-1", "data-path": p, style: { "--depth": depth } },
            e.name,
            e.type === "symlink" && e.link_target ? ` → ${e.link_target}` : "",
          ),
          meta,
          actions,
        ),
      );
    }
    return li;
  }

  async function openDir(dir, ul, depth) {
    const t0 = performance.now();
    const entries = await json(`${base}/tree`, { query: { path: dir }, signal: ctx.signal });
    entries.sort((a, b) => (isDir(b) - isDir(a)) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    let shown = 0;
    const more = h("button", { type: "button", class: "more" });
    const moreLi = h("li", null, more);
    const batch = () => {
      const frag = document.createDocumentFragment();
      for (const e of entries.slice(shown, shown + BATCH)) frag.append(row(e, dir, depth));
      shown = Math.min(entries.length, shown + BATCH);
      moreLi.before(frag);
      more.textContent = `Show ${count(Math.min(BATCH, entries.length - shown))} more (${
        count(entries.length - shown)
      } left)`;
      moreLi.hidden = shown >= entries.length;
    };
    more.addEventListener("click", () => {
      const first = shown;
      batch();
      ul.children[first]?.querySelector("button, [data-path]")?.focus();
    });
    fill(ul, moreLi);
    if (!entries.length) ul.prepend(h("li", { class: "muted" }, "(empty)"));
    batch();
    // User Timing for bench/ui.ts: from the click's request to the frame that shows the rows.
    measurePainted("floe:tree-open", t0, { dir, entries: entries.length });
  }

  const tree = h("ul", {
    class: "tree",
    "aria-label": `Files of snapshot ${snap.short_id ?? id}`,
    onkeydown: treeKeys,
  });
  const s = snap.summary ?? {};
  const row2 = (k, v) => [h("dt", null, k), h("dd", null, v)];
  fill(
    ctx.view,
    h(
      "p",
      { class: "crumbs" },
      h("a", { href: "#/snapshots" }, "Snapshots"),
      " / ",
      h("a", { href: `#/snapshots/${seg(repo)}` }, repo),
      " / ",
      snap.short_id ?? String(id).slice(0, 8),
    ),
    heading(`Snapshot ${snap.short_id ?? String(id).slice(0, 8)}`),
    h(
      "dl",
      { class: "facts" },
      row2("Time", time(snap.time)),
      row2("Host", snap.host ?? "–"),
      row2("Paths", (snap.paths ?? []).join(" ")),
      row2("Tags", (snap.tags ?? []).join(", ") || "–"),
      row2("Files", count(s.total_files_processed)),
      row2("Size", bytes(s.total_bytes_processed)),
      row2("Data added", bytes(s.data_added)),
    ),
    h(
      "div",
      { class: "buttons" },
      h("button", { type: "button", onclick: () => restore.open("/") }, "Restore everything…"),
    ),
    status,
    h(
      "div",
      { class: "tree-head", "aria-hidden": "true" },
      h("span", null, "Name"),
      h("span", { class: "num" }, "Size"),
      h("span", null, "Mode"),
      h("span", null, "Modified"),
      h("span", null, ""),
    ),
    tree,
    restore.dialog,
  );
  await openDir("/", tree, 0);
}

/** Arrow keys move between rows, Right opens a directory, Left closes it. */
function treeKeys(e) {
  const t = e.target;
  if (!(t instanceof HTMLElement) || !t.matches("[data-path]")) return;
  const rows = () =>
    [...e.currentTarget.querySelectorAll("[data-path]")].filter((x) => x.offsetParent !== null);
  if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    const all = rows(), i = all.indexOf(t);
    all[i + (e.key === "ArrowDown" ? 1 : -1)]?.focus();
  } else if (e.key === "ArrowRight" && t.getAttribute("aria-expanded") === "false") t.click();
  else if (e.key === "ArrowLeft" && t.getAttribute("aria-expanded") === "true") t.click();
  else return;
  e.preventDefault();
}

/** #/diff/REPO/FROM/TO. */
export async function diffPage(ctx, repo, from, to) {
  const d = await json(`/repositories/${seg(repo)}/diff`, { query: { from, to }, signal: ctx.signal });
  const changes = d.changes;
  const list = h("ul", { class: "diff" });
  let shown = 0;
  const more = h("button", { type: "button", class: "more", onclick: () => batch() });
  const batch = () => {
    for (const c of changes.slice(shown, shown + BATCH * 5)) {
      const m = c.modifier;
      list.append(
        h(
          "li",
          { class: `m-${{ "+": "add", "-": "del", M: "mod", U: "meta" }[m] ?? "x"}` },
          h("code", { class: "mod" }, m),
          " ",
          c.path,
        ),
      );
    }
    shown = Math.min(changes.length, shown + BATCH * 5);
    more.hidden = shown >= changes.length;
    more.textContent = `Show more (${count(changes.length - shown)} left)`;
  };
  fill(
    ctx.view,
    h("p", { class: "crumbs" }, h("a", { href: `#/snapshots/${seg(repo)}` }, repo), " / diff"),
    heading(`Diff ${from.slice(0, 8)} → ${to.slice(0, 8)}`),
    h(
      "p",
      null,
      `+${count(d.added.files)} files (${bytes(d.added.bytes)}), −${count(d.removed.files)} files (${
        bytes(d.removed.bytes)
      }), ${count(d.changed_files)} changed, ${count(d.metadata_changed)} metadata only`,
    ),
    changes.length ? list : h("p", null, "No differences."),
    more,
  );
  batch();
}
