// Slack's mrkdwn to safe HTML: *bold*, _italic_, ~strike~, `code`, ```blocks```, > quotes,
// <url|text> links, <@U…> mentions, <#C…|name> channels, <!date^…> dates, <!channel>, :emoji:.
// Everything from the message is escaped; only the markup built here becomes HTML.

const EMOJI = {
  hourglass_flowing_sand: "⏳", hourglass: "⌛", arrow_forward: "▶️", white_check_mark: "✅",
  x: "❌", double_vertical_bar: "⏸️", black_square_for_stop: "⏹️", grey_question: "❔",
  rotating_light: "🚨", wastebasket: "🗑️", warning: "⚠️", information_source: "ℹ️",
  tada: "🎉", bar_chart: "📊", mag: "🔍", robot_face: "🤖", bell: "🔔", no_bell: "🔕",
  chart_with_upwards_trend: "📈", lock: "🔒", clipboard: "📋", repeat: "🔁", memo: "📝",
  hammer_and_wrench: "🛠️", zzz: "💤", fire: "🔥", gear: "⚙️", link: "🔗", eyes: "👀",
};

export function escapeHtml(text) {
  return String(text)
    .replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;").replaceAll("'", "&#39;");
}

// Slack sends literal <, > and & as entities; decode them before escaping for HTML.
function decodeSlack(text) {
  return text.replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");
}

const SAFE_URL = /^(https?:\/\/|mailto:)/i;

export function formatDate(epoch, format, fallback) {
  const when = new Date(Number(epoch) * 1000);
  if (Number.isNaN(when.getTime())) return escapeHtml(fallback || "");
  const date = when.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
  const time = when.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  const words = format
    .replaceAll("{date_short_pretty}", date).replaceAll("{date_pretty}", date)
    .replaceAll("{date_long_pretty}", date).replaceAll("{date_short}", date)
    .replaceAll("{date_long}", date).replaceAll("{date}", date)
    .replaceAll("{time_secs}", when.toLocaleTimeString()).replaceAll("{time}", time);
  return `<time datetime="${escapeHtml(when.toISOString())}">${escapeHtml(words)}</time>`;
}

function control(inner, names) {
  const [target, label] = splitOnce(inner, "|");
  if (target.startsWith("@")) {
    const id = target.slice(1);
    return `<span class="mention">@${escapeHtml(names.users[id] || label || id)}</span>`;
  }
  if (target.startsWith("#")) {
    const id = target.slice(1);
    return `<span class="mention">#${escapeHtml(label || names.channels[id] || id)}</span>`;
  }
  if (target.startsWith("!date^")) {
    const [, epoch, format = "{date_short_pretty}"] = target.split("^");
    return formatDate(epoch, format, label);
  }
  if (target.startsWith("!subteam^")) {
    return `<span class="mention">@${escapeHtml(label || target.slice(9))}</span>`;
  }
  if (target.startsWith("!")) {
    return `<span class="mention broadcast">@${escapeHtml(target.slice(1))}</span>`;
  }
  const url = decodeSlack(target);
  const text = decodeSlack(label || target);
  if (!SAFE_URL.test(url)) return escapeHtml(text);
  return `<a href="${escapeHtml(url)}" target="_blank" rel="noopener noreferrer">${escapeHtml(text)}</a>`;
}

function splitOnce(text, separator) {
  const at = text.indexOf(separator);
  return at < 0 ? [text, ""] : [text.slice(0, at), text.slice(at + 1)];
}

function inline(text, names) {
  // Placeholders keep code and <…> sequences out of the formatting rules below.
  const held = [];
  const hold = (html) => `\u0000${held.push(html) - 1}\u0000`;
  let out = text.replace(/`([^`\n]+)`/g, (_, code) => hold(`<code>${escapeHtml(decodeSlack(code))}</code>`));
  out = out.replace(/<([^<>\n]+)>/g, (_, inner) => hold(control(inner, names)));
  out = escapeHtml(decodeSlack(out));
  out = out
    .replace(/(^|[^\w*])\*([^*\n]+)\*(?!\w)/g, "$1<b>$2</b>")
    .replace(/(^|[^\w])_([^_\n]+)_(?!\w)/g, "$1<i>$2</i>")
    .replace(/(^|[^\w~])~([^~\n]+)~(?!\w)/g, "$1<s>$2</s>")
    .replace(/:([a-z0-9_+-]+):/g, (whole, name) => EMOJI[name] || whole);
  return out.replace(/\u0000(\d+)\u0000/g, (_, n) => held[Number(n)]);
}

export function mrkdwn(text, names = { users: {}, channels: {} }) {
  const parts = String(text ?? "").split("```");
  return parts
    .map((part, index) => {
      if (index % 2 === 1) return `<pre class="code">${escapeHtml(decodeSlack(part.replace(/^\n/, "")))}</pre>`;
      const lines = part.split("\n");
      const html = [];
      let quote = [];
      const flush = () => {
        if (quote.length) html.push(`<blockquote>${quote.join("<br>")}</blockquote>`);
        quote = [];
      };
      for (const line of lines) {
        const quoted = line.match(/^(&gt;|>)\s?(.*)$/);
        if (quoted) { quote.push(inline(quoted[2], names)); continue; }
        flush();
        html.push(inline(line, names));
      }
      flush();
      return html.join("<br>").replace(/(<br>)?(<blockquote>)/g, "$2").replace(/(<\/blockquote>)<br>/g, "$1");
    })
    .join("");
}

export function plain(text) {
  return escapeHtml(text ?? "").replace(/:([a-z0-9_+-]+):/g, (whole, name) => EMOJI[name] || whole);
}
