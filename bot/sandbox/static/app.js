// The sandbox page: channels (and the app's DM), messages with threads, a composer with the
// slash-command menu, modals (with external selects) and confirm dialogs, App Home, and an
// "act as" switch. State comes from
// /sandbox/api/state and is redrawn on every server-sent event.

import { renderBlocks, text } from "./blockkit.js";
import { escapeHtml, mrkdwn, plain } from "./mrkdwn.js";

const $ = (id) => document.getElementById(id);
const page = {
  user: localStorage.getItem("sandbox-user") || null,
  channel: null, // a channel id, or "home"
  thread: null, // ts of the open thread
  state: null,
  suggestion: 0,
  drawn: new Map(), // channel -> ts -> {signature, node}
};

async function api(path, body) {
  const response = await fetch(`/sandbox/api/${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user: page.user, ...body }),
  });
  const answer = await response.json();
  if (!response.ok || (answer.status && answer.status >= 400)) {
    toast(`The bot answered HTTP ${answer.status ?? response.status}`);
  }
  return answer;
}

function toast(message) {
  const node = $("toast");
  node.textContent = message;
  node.classList.remove("hidden");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => node.classList.add("hidden"), 4000);
}

function names() {
  const users = Object.fromEntries(page.state.users.map((u) => [u.id, u.name]));
  users[page.state.bot.id] = page.state.bot.name;
  const channels = Object.fromEntries(page.state.channels.map((c) => [c.id, c.name]));
  return { users, channels };
}

async function refresh() {
  // Answers can arrive out of order (an event's refresh, then a switch of the acting user):
  // one older than the answer drawn last, or for another user, is not drawn, or that user's
  // view would come back. (Dropping every answer but the newest request's would starve the
  // page while events keep coming.)
  const asked = ++refresh.asked;
  const user = page.user;
  const response = await fetch(`/sandbox/api/state?user=${encodeURIComponent(user || "")}`);
  const state = await response.json();
  if (asked < refresh.drawn || user !== page.user) return;
  refresh.drawn = asked;
  page.state = state;
  if (!page.user) page.user = page.state.users[0].id;
  if (!page.channel) page.channel = page.state.channels[0].id;
  draw();
}

function draw() {
  drawSidebar();
  if (page.channel === "home") drawHome(); else drawChannel();
  drawThread();
  drawModal();
}

function drawSidebar() {
  const select = $("act-as");
  if (select.options.length !== page.state.users.length) {
    select.replaceChildren(...page.state.users.map((u) => {
      const option = document.createElement("option");
      option.value = u.id;
      option.textContent = `${u.name} (${u.title})`;
      return option;
    }));
  }
  select.value = page.user;
  $("channels").replaceChildren(...page.state.channels.map((c) => {
    const item = document.createElement("button");
    item.className = `nav-item${page.channel === c.id ? " active" : ""}`;
    item.textContent = c.direct ? `✉ ${c.name}` : `# ${c.name}`;
    item.dataset.channel = c.id;
    item.addEventListener("click", () => { page.channel = c.id; page.thread = null; draw(); });
    return item;
  }));
  $("nav-home").classList.toggle("active", page.channel === "home");
}

function ui(context) {
  const inputs = new Map();
  return {
    state: {
      register(blockId, element, read) { inputs.set(`${blockId}\u0000${element.action_id}`, { blockId, element, read }); },
      values() {
        const values = {};
        for (const { blockId, element, read } of inputs.values()) {
          values[blockId] = values[blockId] || {};
          values[blockId][element.action_id] = read();
        }
        return values;
      },
    },
    confirm: (confirm) => confirmDialog(confirm),
    // An external select's options come from the app (block_suggestion), as in Slack.
    async suggest(element, blockId, value, values) {
      const answer = await api("suggest", {
        ...context, action_id: element.action_id, block_id: blockId, value, values,
      });
      const body = answer.body || {};
      return body.options || (body.option_groups || []).flatMap((g) => g.options || []);
    },
    async act(element, blockId, extra) {
      const action = { type: element.type, action_id: element.action_id, block_id: blockId, ...extra };
      if (element.text) action.text = element.text;
      await api("action", { action, ...context });
    },
  };
}

function messageNode(message, channel, { inThread = false } = {}) {
  const node = document.createElement("article");
  node.className = `message${message.ephemeral ? " ephemeral" : ""}`;
  node.dataset.ts = message.ts;
  const author = message.author ? names().users[message.author] || message.author : page.state.bot.name;
  const avatar = document.createElement("div");
  avatar.className = `avatar${message.author ? " user" : ""}`;
  avatar.textContent = author.slice(0, 1).toUpperCase();
  const body = document.createElement("div");
  body.className = "message-body";
  const when = new Date(Number(message.ts.split(".")[0]) * 1000);
  body.innerHTML = `<span class="author">${escapeHtml(author)}</span>${message.author ? "" : '<span class="app-tag">APP</span>'}`
    + `<span class="when">${escapeHtml(when.toLocaleTimeString())}</span>`
    + (message.edited ? ' <span class="edited">(edited)</span>' : "");
  if (message.ephemeral) body.insertAdjacentHTML("beforeend", '<div class="only-you">👁 Only visible to you</div>');
  if (message.broadcast && !inThread) body.insertAdjacentHTML("beforeend", '<div class="broadcast-note">replied to a thread</div>');
  if (message.blocks?.length) {
    body.append(renderBlocks(message.blocks, ui({ channel, message_ts: message.ts }), names()));
  } else {
    const content = document.createElement("div");
    content.className = "bk-text";
    content.innerHTML = mrkdwn(message.text, names());
    body.append(content);
  }
  for (const file of message.files || []) {
    // Uploaded images (a run's metric chart) show as Slack shows them: the title, then the image.
    const figure = document.createElement("figure");
    figure.className = "file";
    const title = document.createElement("figcaption");
    title.textContent = file.title || file.name;
    const image = document.createElement("img");
    image.src = `/sandbox/api/files/${encodeURIComponent(file.id)}`;
    image.alt = file.title || file.name;
    figure.append(title, image);
    body.append(figure);
  }
  node.append(avatar, body);
  return node;
}

function drawChannel() {
  const channel = page.state.channels.find((c) => c.id === page.channel);
  $("channel-title").textContent = `# ${channel.name}`;
  $("channel-topic").textContent = channel.topic;
  $("composer").classList.remove("hidden");
  const all = page.state.messages[channel.id] || [];
  const replies = new Map();
  for (const m of all) if (m.thread_ts && m.thread_ts !== m.ts) replies.set(m.thread_ts, [...(replies.get(m.thread_ts) || []), m]);
  const shown = all.filter((m) => !m.thread_ts || m.thread_ts === m.ts || m.broadcast);
  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  // Unchanged messages keep their nodes: what the user is looking at (or a test holds) stays.
  const drawn = page.drawn.get(channel.id) || new Map();
  const next = new Map();
  list.replaceChildren(...shown.map((m) => {
    const thread = replies.get(m.ts) || [];
    const signature = JSON.stringify([m, thread.length, page.user]);
    const kept = drawn.get(m.ts);
    if (kept && kept.signature === signature) { next.set(m.ts, kept); return kept.node; }
    const node = messageNode(m, channel.id);
    if (thread.length) {
      const link = document.createElement("button");
      link.className = "replies";
      link.textContent = `${thread.length} repl${thread.length === 1 ? "y" : "ies"}`;
      link.addEventListener("click", () => { page.thread = m.ts; drawThread(); });
      node.querySelector(".message-body").append(link);
    }
    next.set(m.ts, { signature, node });
    return node;
  }));
  page.drawn.set(channel.id, next);
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function drawThread() {
  const pane = $("thread");
  if (!page.thread || page.channel === "home") { pane.classList.add("hidden"); return; }
  const all = page.state.messages[page.channel] || [];
  const parent = all.find((m) => m.ts === page.thread);
  const replies = all.filter((m) => m.thread_ts === page.thread && m.ts !== page.thread);
  pane.classList.remove("hidden");
  $("thread-messages").replaceChildren(
    ...(parent ? [messageNode(parent, page.channel, { inThread: true })] : []),
    ...replies.map((m) => messageNode(m, page.channel, { inThread: true })),
  );
}

function drawHome() {
  $("channel-title").textContent = "🤖 aicore-chatops · Home";
  $("channel-topic").textContent = "";
  $("composer").classList.add("hidden");
  const list = $("messages");
  const home = page.state.home;
  const wrap = document.createElement("div");
  wrap.className = "home";
  if (home) wrap.append(renderBlocks(home.blocks, ui({ view_id: home.id }), names()));
  else wrap.innerHTML = "<p>The app has not published a Home tab for you.</p>";
  list.replaceChildren(wrap);
}

function drawModal() {
  const layer = $("modal-layer");
  const views = page.state.views || [];
  const view = views[views.length - 1];
  if (!view) { layer.classList.add("hidden"); layer.replaceChildren(); layer.dataset.viewId = ""; layer.dataset.hash = ""; return; }
  if (layer.dataset.viewId === view.id && layer.dataset.hash === view.hash) return; // keep what is typed
  layer.dataset.viewId = view.id;
  layer.dataset.hash = view.hash;
  const context = ui({ view_id: view.id });
  const dialog = document.createElement("div");
  dialog.className = "dialog";
  dialog.setAttribute("role", "dialog");
  const header = document.createElement("header");
  header.innerHTML = `<span>${plain(view.title?.text || "")}</span>`;
  const x = document.createElement("button");
  x.className = "close"; x.textContent = "×"; x.setAttribute("aria-label", "Close");
  x.addEventListener("click", () => api("close", { view_id: view.id }));
  header.append(x);
  const body = document.createElement("div");
  body.className = "dialog-body";
  body.append(renderBlocks(view.blocks, context, names()));
  const footer = document.createElement("footer");
  const close = document.createElement("button");
  close.className = "bk-button"; close.textContent = view.close?.text || "Cancel";
  close.addEventListener("click", () => api("close", { view_id: view.id }));
  footer.append(close);
  if (view.submit) {
    const submit = document.createElement("button");
    submit.className = "bk-button primary"; submit.textContent = view.submit.text;
    submit.addEventListener("click", async () => {
      const answer = await api("submit", { view_id: view.id, values: context.state.values() });
      for (const node of body.querySelectorAll(".bk-error")) node.textContent = "";
      for (const [blockId, message] of Object.entries(answer.errors || {})) {
        const block = body.querySelector(`[data-block-id="${CSS.escape(blockId)}"] .bk-error`);
        if (block) block.textContent = message;
      }
    });
    footer.append(submit);
  }
  dialog.append(header, body, footer);
  layer.replaceChildren(dialog);
  layer.classList.remove("hidden");
}

function confirmDialog(confirm) {
  return new Promise((resolve) => {
    const layer = $("confirm-layer");
    const dialog = document.createElement("div");
    dialog.className = "dialog confirm";
    dialog.setAttribute("role", "alertdialog");
    dialog.innerHTML = `<header><span>${plain(confirm.title?.text || "Are you sure?")}</span></header>`
      + `<div class="dialog-body">${text(confirm.text, names())}</div>`;
    const footer = document.createElement("footer");
    const deny = document.createElement("button");
    deny.className = "bk-button"; deny.textContent = confirm.deny?.text || "Cancel";
    const ok = document.createElement("button");
    ok.className = `bk-button ${confirm.style === "danger" ? "danger" : "primary"}`;
    ok.textContent = confirm.confirm?.text || "Yes";
    const done = (answer) => { layer.classList.add("hidden"); layer.replaceChildren(); resolve(answer); };
    deny.addEventListener("click", () => done(false));
    ok.addEventListener("click", () => done(true));
    footer.append(deny, ok);
    dialog.append(footer);
    layer.replaceChildren(dialog);
    layer.classList.remove("hidden");
  });
}

// -- the composer and its slash-command menu ---------------------------------------------------

function suggestions(value) {
  if (!value.startsWith("/")) return [];
  const [command, ...rest] = value.split(" ");
  const typed = rest.join(" ").trim();
  const found = [];
  for (const c of page.state.commands) {
    if (!rest.length) {
      if (c.command.startsWith(command)) found.push({ fill: `${c.command} `, usage: c.command, desc: c.description });
      continue;
    }
    if (c.command !== command) continue;
    for (const s of c.subcommands) {
      const word = s.usage.split(" ")[0];
      if (word.startsWith(typed.split(" ")[0]) && !typed.includes(" ")) found.push({ fill: `${c.command} ${word} `, usage: `${c.command} ${s.usage}`, desc: s.description });
    }
    for (const example of c.examples || []) {
      if (typed && example.startsWith(typed) && example !== typed) found.push({ fill: `${c.command} ${example}`, usage: `${c.command} ${example}`, desc: "example" });
    }
  }
  return found.slice(0, 12);
}

function drawSuggestions() {
  const input = $("composer-input");
  const list = $("suggestions");
  const found = suggestions(input.value);
  if (!found.length) { list.classList.add("hidden"); return; }
  page.suggestion = Math.min(page.suggestion, found.length - 1);
  list.replaceChildren(...found.map((s, i) => {
    const item = document.createElement("li");
    item.setAttribute("role", "option");
    item.className = i === page.suggestion ? "active" : "";
    item.innerHTML = `<span class="usage">${escapeHtml(s.usage)}</span><span class="desc">${escapeHtml(s.desc)}</span>`;
    item.addEventListener("mousedown", (event) => { event.preventDefault(); input.value = s.fill; drawSuggestions(); input.focus(); });
    return item;
  }));
  list.classList.remove("hidden");
  list.dataset.fills = JSON.stringify(found.map((s) => s.fill));
}

function setUp() {
  const input = $("composer-input");
  input.addEventListener("input", () => { page.suggestion = 0; drawSuggestions(); });
  input.addEventListener("keydown", (event) => {
    const list = $("suggestions");
    if (list.classList.contains("hidden")) return;
    const fills = JSON.parse(list.dataset.fills || "[]");
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      page.suggestion = (page.suggestion + (event.key === "ArrowDown" ? 1 : fills.length - 1)) % fills.length;
      drawSuggestions();
    } else if (event.key === "Tab") {
      event.preventDefault();
      input.value = fills[page.suggestion];
      drawSuggestions();
    } else if (event.key === "Escape") {
      list.classList.add("hidden");
    }
  });
  $("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (!value) return;
    if (!value.startsWith("/")) { toast("The sandbox takes slash commands: /aicore or /bria"); return; }
    input.value = "";
    $("suggestions").classList.add("hidden");
    await api("command", { channel: page.channel, text: value });
  });
  $("act-as").addEventListener("change", (event) => {
    page.user = event.target.value;
    localStorage.setItem("sandbox-user", page.user);
    refresh();
  });
  $("nav-home").addEventListener("click", () => {
    page.channel = "home"; page.thread = null; draw();
    api("home", {}); // Slack tells the app the tab was opened; the app publishes it afresh
  });
  $("thread-close").addEventListener("click", () => { page.thread = null; drawThread(); });
  const events = new EventSource("/sandbox/api/events");
  events.onmessage = () => refresh();
}

refresh.asked = 0;
refresh.drawn = 0;
setUp();
refresh().then(() => { document.body.dataset.ready = "true"; });
