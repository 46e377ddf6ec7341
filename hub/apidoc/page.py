"""``/docs``: the OpenAPI and AsyncAPI documents as one readable HTML page, rendered on the server.

Hand-written on purpose, instead of vendoring a JavaScript renderer (Redoc, Swagger UI, Scalar): the page
is generated from the very documents ``/openapi.json`` and ``/asyncapi.json`` serve, needs no Node.js at
build or run time and no CDN (this deployment reaches none), runs no script (the route sends
``Content-Security-Policy: default-src 'none'``), and covers both documents in one place. Every text
comes from the documents and is HTML-escaped; expandable parts use ``<details>``, which needs no script.
"""

from __future__ import annotations

import json
import re
from html import escape
from typing import Any

_CODE = re.compile(r"`([^`]+)`")

_STYLE = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2733;background:#fff}
header{background:#13294b;color:#fff;padding:16px 24px}header a{color:#cfe3ff}
h1{margin:0;font-size:24px}.layout{display:flex}
nav{width:300px;flex:none;border-right:1px solid #e3e7ee;padding:12px 16px;font-size:13px;
position:sticky;top:0;height:100vh;overflow:auto;box-sizing:border-box}
nav ul{list-style:none;padding-left:8px;margin:4px 0}nav li{word-break:break-all}
nav a{color:#13294b;text-decoration:none}
main{flex:1;padding:8px 32px 64px;max-width:1100px;min-width:0}
h2{border-bottom:2px solid #13294b;padding-bottom:4px;margin-top:40px}
article{border:1px solid #e3e7ee;border-radius:6px;padding:8px 16px;margin:16px 0}
article h3{margin:8px 0;font-size:17px;word-break:break-all}
.method{display:inline-block;min-width:56px;text-align:center;border-radius:4px;color:#fff;font-size:12px;
font-weight:700;padding:2px 6px;margin-right:8px}
.get{background:#1f7a4d}.post{background:#1f5fa8}.put,.patch{background:#a86a1f}.delete{background:#a82a1f}
.send{background:#6b3fa0}.receive{background:#1f7a7a}
table{border-collapse:collapse;width:100%;font-size:13px;margin:8px 0}
th,td{border:1px solid #e3e7ee;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f5f7fa}
code{background:#f2f4f8;border-radius:3px;padding:0 3px;font-size:13px}
pre{background:#f5f7fa;border:1px solid #e3e7ee;border-radius:4px;padding:8px;overflow:auto;font-size:12px}
.req{color:#a82a1f;font-weight:700}.muted{color:#5a6776}summary{cursor:pointer;color:#1f5fa8}
"""


def render_page(openapi: dict[str, Any], asyncapi: dict[str, Any]) -> str:
    """The whole page (a complete HTML document) for the two documents."""
    info = openapi.get("info", {})
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, methods in openapi.get("paths", {}).items():
        for method, op in methods.items():
            by_tag.setdefault(op.get("tags", ["other"])[0], []).append((method, path, op))
    tags = {t["name"]: t.get("description", "") for t in openapi.get("tags", [])}
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>{escape(info.get('title', 'API'))}</title><style>{_STYLE}</style></head><body>",
        f"<header><h1>{escape(info.get('title', 'API'))} <small>{escape(info.get('version', ''))}</small></h1>",
        "<div>OpenAPI: <a href='/openapi.json'>/openapi.json</a> · AsyncAPI: <a href='/asyncapi.json'>"
        "/asyncapi.json</a></div></header><div class='layout'>",
        _nav(by_tag, asyncapi, openapi),
        "<main>",
        f"<section id='intro'>{_text(info.get('description', ''))}</section>",
        _security(openapi.get("components", {}).get("securitySchemes", {})),
    ]
    for tag in sorted(by_tag):
        parts.append(f"<h2 id='tag-{_id(tag)}'>{escape(tag)}</h2>{_text(tags.get(tag, ''))}")
        parts += [_operation(method, path, op) for method, path, op in by_tag[tag]]
    parts.append(_streams(asyncapi))
    parts.append("<h2 id='schemas'>Schemas (HTTP)</h2>")
    parts += [_schema("o", name, s) for name, s in openapi.get("components", {}).get("schemas", {}).items()]
    parts.append("<h2 id='stream-schemas'>Schemas (streams)</h2>")
    parts += [_schema("a", name, s) for name, s in asyncapi.get("components", {}).get("schemas", {}).items()]
    parts.append("</main></div></body></html>")
    return "".join(parts)


def _id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")


def _text(text: str) -> str:
    """Plain text with `code` spans and blank-line paragraphs, escaped."""
    paragraphs = [p for p in text.replace("``", "`").split("\n\n") if p.strip()]
    return "".join("<p>" + _CODE.sub(r"<code>\1</code>", escape(p)) + "</p>" for p in paragraphs)


def _op_id(method: str, path: str) -> str:
    return f"op-{method}-{_id(path)}"


def _nav(
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]], asyncapi: dict[str, Any], openapi: dict[str, Any]
) -> str:
    out = ["<nav><strong>HTTP (OpenAPI)</strong><ul><li><a href='#auth'>Authentication</a></li>"]
    for tag in sorted(by_tag):
        out.append(f"<li><a href='#tag-{_id(tag)}'>{escape(tag)}</a><ul>")
        for method, path, _ in by_tag[tag]:
            out.append(f"<li><a href='#{_op_id(method, path)}'>{method.upper()} {escape(path)}</a></li>")
        out.append("</ul></li>")
    out.append("</ul><strong>Streams (AsyncAPI)</strong><ul>")
    for cid, channel in asyncapi.get("channels", {}).items():
        out.append(f"<li><a href='#ch-{_id(cid)}'>{escape(channel.get('address', cid))}</a></li>")
    out.append("</ul><strong><a href='#schemas'>Schemas</a></strong></nav>")
    return "".join(out)


def _security(schemes: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(name)}</code></td><td>{escape(_scheme_kind(s))}</td>"
        f"<td>{_text(s.get('description', ''))}</td></tr>"
        for name, s in schemes.items()
    )
    return f"<h2 id='auth'>Authentication</h2><table><tr><th>scheme</th><th>kind</th><th></th></tr>{rows}</table>"


def _scheme_kind(s: dict[str, Any]) -> str:
    if s.get("type") == "http":
        return f"{s.get('scheme', '')} {s.get('bearerFormat', '')}".strip()
    return f"{s.get('type')} in {s.get('in')}: {s.get('name')}"


def _operation(method: str, path: str, op: dict[str, Any]) -> str:
    out = [
        f"<article id='{_op_id(method, path)}'><h3><span class='method {method}'>{method.upper()}</span>"
        f"<code>{escape(path)}</code></h3><p><strong>{escape(op.get('summary', ''))}</strong></p>",
        _text(op.get("description", "")),
    ]
    security = op.get("security")
    if security:
        alternatives = " <em>or</em> ".join(" + ".join(f"<code>{escape(n)}</code>" for n in alt) for alt in security)
        out.append(f"<p>Security: {alternatives}</p>")
    else:
        out.append("<p class='muted'>No credentials.</p>")
    params = op.get("parameters", [])
    if params:
        rows = "".join(
            f"<tr><td><code>{escape(p['name'])}</code>{' <span class=req>*</span>' if p.get('required') else ''}</td>"
            f"<td>{escape(p['in'])}</td><td>{_type(p.get('schema', {}), 'o')}</td>"
            f"<td>{_text(p.get('description', ''))}</td></tr>"
            for p in params
        )
        out.append(f"<table><tr><th>parameter</th><th>in</th><th>type</th><th></th></tr>{rows}</table>")
    body = op.get("requestBody")
    if body:
        for media, content in body.get("content", {}).items():
            out.append(f"<p>Request body <code>{escape(media)}</code>: {_type(content.get('schema', {}), 'o')}</p>")
            if "example" in content:
                out.append(_example("Example request", content["example"]))
    replies: list[str] = []
    for status, reply in op.get("responses", {}).items():
        bodies = reply.get("content", {})
        kinds = "<br>".join(f"<code>{escape(m)}</code> {_type(c.get('schema', {}), 'o')}" for m, c in bodies.items())
        replies.append(
            f"<tr><td><strong>{escape(status)}</strong></td>"
            f"<td>{escape(reply.get('description', ''))}</td><td>{kinds}</td></tr>"
        )
    out.append(f"<table><tr><th>status</th><th>meaning</th><th>body</th></tr>{''.join(replies)}</table>")
    examples = [
        (f"{status} {name}", ex.get("value"))
        for status, reply in op.get("responses", {}).items()
        for c in reply.get("content", {}).values()
        for name, ex in c.get("examples", {}).items()
    ]
    examples += [
        (status, c["example"])
        for status, reply in op.get("responses", {}).items()
        for c in reply.get("content", {}).values()
        if "example" in c
    ]
    if examples:
        inner = "".join(f"<p>{escape(label)}</p>{_pre(value)}" for label, value in examples)
        out.append(f"<details><summary>Response examples</summary>{inner}</details>")
    out.append("</article>")
    return "".join(out)


def _pre(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    return f"<pre>{escape(text)}</pre>"


def _example(label: str, value: Any) -> str:
    return f"<details><summary>{escape(label)}</summary>{_pre(value)}</details>"


def _type(schema: Any, doc: str) -> str:
    """A short, linked description of a schema: ``PaymentView``, ``array of Review``, ``string (date-time)``."""
    if not isinstance(schema, dict):
        return ""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if schema["$ref"].startswith("#/components/schemas/"):
            return f"<a href='#{doc}-schema-{_id(name)}'>{escape(name)}</a>"
        return escape(name)
    if "allOf" in schema:
        base = " & ".join(_type(s, doc) for s in schema["allOf"])
        codes = schema.get("properties", {}).get("error", {}).get("properties", {}).get("code", {}).get("enum")
        return base + (f" code {', '.join(f'<code>{escape(c)}</code>' for c in codes)}" if codes else "")
    for key, word in (("anyOf", " | "), ("oneOf", " | ")):
        if key in schema:
            return word.join(_type(s, doc) for s in schema[key])
    if "const" in schema:
        return f"<code>{escape(json.dumps(schema['const']))}</code>"
    if "enum" in schema:
        return "one of " + ", ".join(f"<code>{escape(json.dumps(v))}</code>" for v in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array":
        return "array of " + _type(schema.get("items", {}), doc)
    if kind == "object" and "properties" in schema and "data" in schema["properties"]:
        return "envelope with data " + _type(schema["properties"]["data"], doc)
    text = escape(str(kind))
    notes = [escape(schema["format"])] if "format" in schema else []
    if "pattern" in schema:
        notes.append(f"pattern <code>{escape(schema['pattern'])}</code>")
    for key, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<")):
        if key in schema:
            notes.append(f"{sign} {escape(str(schema[key]))}")
    for key, word in (("minLength", "min length"), ("maxLength", "max length")):
        if key in schema:
            notes.append(f"{word} {schema[key]}")
    return text + (f" ({', '.join(notes)})" if notes else "")


def _schema(doc: str, name: str, schema: dict[str, Any]) -> str:
    props = schema.get("properties", {})
    required = set(schema.get("required", ()))
    rows = "".join(
        f"<tr><td><code>{escape(p)}</code>{' <span class=req>*</span>' if p in required else ''}</td>"
        f"<td>{_type(s, doc)}</td><td>{_text(s.get('description', ''))}"
        f"{_example_cell(s)}</td></tr>"
        for p, s in props.items()
    )
    closed = " Other properties: none." if schema.get("additionalProperties") is False else ""
    table = f"<table><tr><th>property</th><th>type</th><th></th></tr>{rows}</table>" if rows else ""
    if not rows:
        table = f"<p>{_type(schema, doc)}</p>"
    return (
        f"<article id='{doc}-schema-{_id(name)}'><h3>{escape(name)}</h3>{_text(schema.get('description', ''))}"
        f"{table}<p class='muted'>{closed}</p></article>"
    )


def _example_cell(schema: dict[str, Any]) -> str:
    examples = schema.get("examples")
    if not examples:
        return ""
    return f"<span class='muted'>e.g. <code>{escape(json.dumps(examples[0], ensure_ascii=False))}</code></span>"


def _streams(asyncapi: dict[str, Any]) -> str:
    info = asyncapi.get("info", {})
    out = [
        f"<h2 id='streams'>Streams (AsyncAPI {escape(asyncapi.get('asyncapi', ''))})</h2>",
        _text(info.get("description", "")),
    ]
    servers = asyncapi.get("servers", {})
    rows = "".join(
        f"<tr><td><code>{escape(n)}</code></td><td>{escape(s.get('protocol', ''))}://{escape(s.get('host', ''))}</td>"
        f"<td>{_text(s.get('description', ''))}</td></tr>"
        for n, s in servers.items()
    )
    out.append(f"<table><tr><th>server</th><th>address</th><th></th></tr>{rows}</table>")
    messages = asyncapi.get("components", {}).get("messages", {})
    actions = _actions(asyncapi)
    for cid, channel in asyncapi.get("channels", {}).items():
        out.append(
            f"<article id='ch-{_id(cid)}'><h3><code>{escape(channel.get('address', cid))}</code></h3>"
            f"<p><strong>{escape(channel.get('title', ''))}</strong></p>{_text(channel.get('description', ''))}"
        )
        lines: list[str] = []
        for mname, ref in channel.get("messages", {}).items():
            message = messages.get(ref.get("$ref", "").rsplit("/", 1)[-1], {})
            action = actions.get((cid, mname), "")
            badge = f"<span class='method {action}'>{escape(action)}</span>" if action else ""
            examples = "".join(
                _example(ex.get("name", "example"), ex.get("payload")) for ex in message.get("examples", [])
            )
            summary = escape(message.get("summary", message.get("title", "")))
            lines.append(
                f"<tr><td>{badge}<code>{escape(message.get('name', mname))}</code></td>"
                f"<td>{summary}{_text(message.get('description', ''))}</td>"
                f"<td>{_type(message.get('payload', {}), 'a')}{examples}</td></tr>"
            )
        out.append(f"<table><tr><th>message</th><th></th><th>payload</th></tr>{''.join(lines)}</table></article>")
    return "".join(out)


def _actions(asyncapi: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(channel id, message name) -> ``send`` | ``receive``, from the operations."""
    found: dict[tuple[str, str], str] = {}
    for op in asyncapi.get("operations", {}).values():
        cid = op.get("channel", {}).get("$ref", "").rsplit("/", 1)[-1]
        for ref in op.get("messages", []):
            found[(cid, ref.get("$ref", "").rsplit("/", 1)[-1])] = op.get("action", "")
    return found
