"""The executed report notebook as one HTML page that is safe to mail around.

Code hidden, figures embedded, nothing fetched and nothing run when it opens: nbconvert exports
with its sanitiser on (``clean_html`` below decides which tags stay) and the page carries a
Content-Security-Policy without scripts or remote loads. What comes from the logs was escaped
before (``markup``); this is the second wall.
"""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"

# The page runs no script and fetches nothing: styles are inline, images are data: URLs.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; base-uri 'none'; form-action 'none'"
)
# What the report's Markdown and tables are made of; nbconvert's sanitiser drops every other tag
# (keeping its text) and every other attribute from Markdown and HTML outputs.
ALLOWED_TAGS = (
    "a p br hr h1 h2 h3 h4 h5 h6 strong b em i del code pre blockquote ul ol li div span "
    "table caption thead tbody tr th td"
).split()
ALLOWED_ATTRIBUTES = {"*": ["class", "id"], "a": ["href"], "th": ["colspan", "rowspan"], "td": ["colspan", "rowspan"]}
# Style and script elements go whole: their text is CSS or code, never something to read.
_CODE_ELEMENTS = re.compile(r"<(style|script)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)


def clean_html(fragment: str) -> str:
    """An HTML fragment reduced to ``ALLOWED_TAGS``: the ``clean_html`` filter nbconvert sanitises with.

    Links keep only http, https and mailto targets (the kit's own links); Markdown from the
    logs cannot make one, since ``markup.md`` escapes it.

    >>> clean_html('<h2 onclick="x()">A</h2><script>b()</script><style>p {}</style><a href="javascript:c()">d</a>')
    '<h2>A</h2><a>d</a>'
    """
    from nbconvert.preprocessors.sanitize import SanitizeHTML

    sanitiser = SanitizeHTML(tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, strip=True, strip_comments=True)
    return str(sanitiser.sanitize_html_tags(_CODE_ELEMENTS.sub("", fragment)))


def to_html(notebook_path: Path) -> str:
    """The executed notebook as one HTML page: code hidden, figures inline, sanitised, nothing fetched or run."""
    import nbformat  # imported when used: with nbconvert it takes about a second
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        extra_template_basedirs=[str(TEMPLATES)],
        template_name="offline",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        sanitize_html=True,
        filters={"clean_html": clean_html},
    )
    resources = {"content_security_policy": CONTENT_SECURITY_POLICY}
    body, _ = exporter.from_notebook_node(nbformat.read(notebook_path, as_version=4), resources=resources)
    return body
