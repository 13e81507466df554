// Block Kit to DOM, as Slack draws it: header, section (text, fields, accessory), context,
// divider, actions (buttons with primary/danger style and confirm dialogs, selects, overflow),
// input (plain text, number, selects, checkboxes, radio buttons), image, rich_text.
// `ui.act(element, blockId, value)` is called for interactive elements; `ui.confirm(confirm)`
// resolves true when the user confirms a dialog. Inputs keep their state in `ui.state`.

import { mrkdwn, plain } from "./mrkdwn.js";

function el(tag, className, html) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (html !== undefined) node.innerHTML = html;
  return node;
}

export function text(object, names) {
  if (!object) return "";
  if (typeof object === "string") return mrkdwn(object, names);
  return object.type === "mrkdwn" ? mrkdwn(object.text, names) : plain(object.text);
}

function optionText(option) {
  return option?.text ? plain(option.text.text) : "";
}

async function clicked(element, blockId, value, ui) {
  if (element.confirm && !(await ui.confirm(element.confirm))) return;
  await ui.act(element, blockId, value);
}

function button(element, blockId, ui) {
  const node = el("button", `bk-button ${element.style || ""}`.trim(), plain(element.text?.text));
  node.dataset.actionId = element.action_id || "";
  if (element.url) {
    node.addEventListener("click", () => window.open(element.url, "_blank", "noopener"));
    return node;
  }
  node.addEventListener("click", () => clicked(element, blockId, { value: element.value }, ui));
  return node;
}

function select(element, blockId, ui, inInput) {
  const node = el("select", "bk-select");
  node.dataset.actionId = element.action_id || "";
  const placeholder = el("option", "", plain(element.placeholder?.text || "Select"));
  placeholder.value = "";
  node.append(placeholder);
  const groups = element.option_groups || [{ options: element.options || [] }];
  for (const group of groups) {
    const parent = group.label ? el("optgroup") : node;
    if (group.label) { parent.label = group.label.text; node.append(parent); }
    for (const option of group.options || []) {
      const item = el("option", "", optionText(option));
      item.value = option.value;
      if (element.initial_option?.value === option.value) item.selected = true;
      parent.append(item);
    }
  }
  const pick = () => {
    const all = groups.flatMap((g) => g.options || []);
    return all.find((o) => o.value === node.value) || null;
  };
  if (inInput) {
    ui.state.register(blockId, element, () => ({ type: element.type, selected_option: pick() }));
  } else {
    node.addEventListener("change", () => clicked(element, blockId, { selected_option: pick() }, ui));
  }
  return node;
}

// An external select: a search box whose options the app answers as the user types
// (block_suggestion); a pick is an action when the select is not in an input block, or when
// its input block dispatches actions.
function externalSelect(element, blockId, ui, { inInput, dispatch }) {
  const wrap = el("div", "bk-external");
  wrap.dataset.actionId = element.action_id || "";
  const box = el("input", "bk-input bk-external-input");
  box.type = "text";
  box.placeholder = element.placeholder?.text || "Type to search";
  box.setAttribute("role", "combobox");
  const list = el("ul", "bk-external-options hidden");
  list.setAttribute("role", "listbox");
  let chosen = element.initial_option || null;
  const shown = (option) => option?.text?.text || "";
  box.value = shown(chosen);
  const minimum = element.min_query_length ?? 3;
  let asked = 0;
  const load = async () => {
    const typed = box.value === shown(chosen) ? "" : box.value;
    if (typed.length < minimum) { list.classList.add("hidden"); return; }
    const mine = ++asked;
    const options = await ui.suggest(element, blockId, typed, ui.state.values());
    if (mine !== asked) return; // a later keystroke asked again
    list.replaceChildren(...options.map((option) => {
      const item = el("li", "bk-external-option", optionText(option));
      item.setAttribute("role", "option");
      item.dataset.value = option.value;
      item.addEventListener("mousedown", async (event) => {
        event.preventDefault();
        chosen = option;
        box.value = shown(option);
        list.classList.add("hidden");
        if (!inInput || dispatch) await ui.act(element, blockId, { selected_option: option });
      });
      return item;
    }));
    list.classList.toggle("hidden", options.length === 0);
  };
  box.addEventListener("focus", load);
  box.addEventListener("input", load);
  box.addEventListener("blur", () => setTimeout(() => list.classList.add("hidden"), 200));
  if (inInput) ui.state.register(blockId, element, () => ({ type: element.type, selected_option: chosen }));
  wrap.append(box, list);
  return wrap;
}

function overflow(element, blockId, ui) {
  const wrap = el("span", "bk-overflow");
  const toggle = el("button", "bk-button", "⋯");
  const menu = el("div", "bk-menu hidden");
  for (const option of element.options || []) {
    const item = el("button", "bk-menu-item", optionText(option));
    item.addEventListener("click", () => {
      menu.classList.add("hidden");
      clicked(element, blockId, { selected_option: option }, ui);
    });
    menu.append(item);
  }
  toggle.addEventListener("click", () => menu.classList.toggle("hidden"));
  wrap.append(toggle, menu);
  return wrap;
}

function inputElement(element, blockId, ui, dispatch) {
  switch (element.type) {
    case "plain_text_input":
    case "number_input":
    case "email_text_input":
    case "url_text_input": {
      const multiline = element.type === "plain_text_input" && element.multiline;
      const node = el(multiline ? "textarea" : "input", "bk-input");
      if (!multiline) node.type = element.type === "number_input" ? "number" : "text";
      node.placeholder = element.placeholder?.text || "";
      node.value = element.initial_value ?? "";
      node.dataset.actionId = element.action_id || "";
      ui.state.register(blockId, element, () => ({ type: element.type, value: node.value }));
      return node;
    }
    case "static_select":
      return select(element, blockId, ui, true);
    case "external_select":
      return externalSelect(element, blockId, ui, { inInput: true, dispatch: Boolean(dispatch) });
    case "checkboxes":
    case "radio_buttons": {
      const box = el("div", "bk-choices");
      const inputs = [];
      for (const option of element.options || []) {
        const label = el("label", "bk-choice");
        const input = el("input");
        input.type = element.type === "checkboxes" ? "checkbox" : "radio";
        input.name = `${blockId}-${element.action_id}`;
        input.checked = (element.initial_options || [element.initial_option])
          .some((o) => o && o.value === option.value);
        inputs.push([input, option]);
        label.append(input, el("span", "", optionText(option)));
        box.append(label);
      }
      ui.state.register(blockId, element, () => {
        const chosen = inputs.filter(([input]) => input.checked).map(([, o]) => o);
        return element.type === "checkboxes"
          ? { type: element.type, selected_options: chosen }
          : { type: element.type, selected_option: chosen[0] || null };
      });
      return box;
    }
    default:
      return el("span", "bk-unsupported", plain(`[${element.type}]`));
  }
}

function interactive(element, blockId, ui) {
  if (element.type === "button") return button(element, blockId, ui);
  if (element.type === "overflow") return overflow(element, blockId, ui);
  if (element.type === "static_select") return select(element, blockId, ui, false);
  if (element.type === "external_select") {
    return externalSelect(element, blockId, ui, { inInput: false, dispatch: true });
  }
  if (element.type === "image") {
    const image = el("img", "bk-thumb");
    image.src = element.image_url; image.alt = element.alt_text || "";
    return image;
  }
  return el("span", "bk-unsupported", plain(`[${element.type}]`));
}

function richText(block, names) {
  const node = el("div", "bk-rich");
  for (const part of block.elements || []) {
    const inner = (part.elements || []).map((e) => {
      if (e.type === "text") {
        let html = plain(e.text).replaceAll("\n", "<br>");
        if (e.style?.code) html = `<code>${html}</code>`;
        if (e.style?.bold) html = `<b>${html}</b>`;
        if (e.style?.italic) html = `<i>${html}</i>`;
        if (e.style?.strike) html = `<s>${html}</s>`;
        return html;
      }
      if (e.type === "link") return mrkdwn(`<${e.url}|${e.text || e.url}>`, names);
      if (e.type === "user") return mrkdwn(`<@${e.user_id}>`, names);
      if (e.type === "emoji") return plain(`:${e.name}:`);
      return "";
    }).join("");
    const tag = part.type === "rich_text_preformatted" ? "pre" : part.type === "rich_text_quote" ? "blockquote" : "div";
    node.append(el(tag, tag === "pre" ? "code" : "", inner));
  }
  return node;
}

export function renderBlocks(blocks, ui, names) {
  const out = el("div", "bk-blocks");
  for (const block of blocks || []) {
    const blockId = block.block_id || "";
    let node;
    switch (block.type) {
      case "header":
        node = el("div", "bk-header", plain(block.text?.text));
        break;
      case "section": {
        node = el("div", "bk-section");
        const body = el("div", "bk-section-body");
        if (block.text) body.append(el("div", "bk-text", text(block.text, names)));
        if (block.fields?.length) {
          const fields = el("div", "bk-fields");
          for (const field of block.fields) fields.append(el("div", "bk-field", text(field, names)));
          body.append(fields);
        }
        node.append(body);
        if (block.accessory) {
          const side = el("div", "bk-accessory");
          side.append(interactive(block.accessory, blockId, ui));
          node.append(side);
        }
        break;
      }
      case "context": {
        node = el("div", "bk-context");
        for (const element of block.elements || []) {
          if (element.type === "image") {
            const image = el("img", "bk-context-image");
            image.src = element.image_url; image.alt = element.alt_text || "";
            node.append(image);
          } else {
            node.append(el("span", "", text(element, names)));
          }
        }
        break;
      }
      case "divider":
        node = el("hr", "bk-divider");
        break;
      case "actions": {
        node = el("div", "bk-actions");
        for (const element of block.elements || []) node.append(interactive(element, blockId, ui));
        break;
      }
      case "input": {
        node = el("div", "bk-input-block");
        const label = el("label", "bk-label", plain(block.label?.text));
        if (block.optional) label.append(el("span", "bk-optional", " (optional)"));
        node.append(label, inputElement(block.element, blockId, ui, block.dispatch_action));
        if (block.hint) node.append(el("div", "bk-hint", plain(block.hint.text)));
        node.append(el("div", "bk-error"));
        node.dataset.blockId = blockId;
        break;
      }
      case "image": {
        node = el("figure", "bk-image");
        if (block.title) node.append(el("figcaption", "", plain(block.title.text)));
        const image = el("img");
        image.src = block.image_url; image.alt = block.alt_text || "";
        node.append(image);
        break;
      }
      case "rich_text":
        node = richText(block, names);
        break;
      default:
        node = el("div", "bk-unsupported", plain(`[${block.type} block]`));
    }
    node.dataset.block = block.type;
    out.append(node);
  }
  return out;
}
