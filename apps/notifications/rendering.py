"""Turning a notification's kind and context into its subject and bodies, with Django templates.

Each kind has its templates under ``notifications/<kind>/``: ``subject.txt``, ``body.txt`` and
``body.html`` for email, ``in_app.txt`` for the in-app message. They are found through the
project's template loaders, so a shop overrides one by putting a file with the same path in
its own template directory (``templates/`` at the project root comes first).

Text templates are rendered without HTML escaping (a product called "Salt & Pepper" stays
so in a plain-text email); the HTML body is escaped as usual.
"""

from dataclasses import dataclass
from typing import Any

from django.template import Context, Engine

from apps.notifications.conf import notification_settings

SUBJECT_MAX_LENGTH = 255


class RenderFailed(Exception):
    """A template is missing or broken; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


def render_email(kind: str, context: dict[str, Any]) -> Rendered:
    return Rendered(
        subject=_subject(_render(f"notifications/{kind}/subject.txt", context, escape=False)),
        text=_render(f"notifications/{kind}/body.txt", context, escape=False).strip() + "\n",
        html=_render(f"notifications/{kind}/body.html", context, escape=True),
    )


def render_in_app(kind: str, context: dict[str, Any]) -> Rendered:
    return Rendered(
        subject=_subject(_render(f"notifications/{kind}/subject.txt", context, escape=False)),
        text=_render(f"notifications/{kind}/in_app.txt", context, escape=False).strip(),
        html="",
    )


def _render(template_name: str, context: dict[str, Any], *, escape: bool) -> str:
    full_context = {"store_name": notification_settings().store_name, **context}
    try:
        template = Engine.get_default().get_template(template_name)
        return template.render(Context(full_context, autoescape=escape))
    except Exception as exc:  # a shop's template can fail in any way; the message says how
        raise RenderFailed(
            f"template {template_name} failed: {exc.__class__.__name__}: {exc}"
        ) from exc


def _subject(rendered: str) -> str:
    # Headers are one line: newlines in a subject would be refused by the mail framework.
    return " ".join(rendered.split())[:SUBJECT_MAX_LENGTH]
