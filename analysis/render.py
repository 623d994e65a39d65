"""Execute the report notebook with papermill and export it to self-contained HTML.

The output folder is replaced in one step: the report is built in a hidden
sibling folder and renamed into place only when every file is there, so a
failed run leaves an earlier report untouched.
"""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from analysis.assets import report_notebook
from analysis.errors import KitError
from analysis.findings import FINDINGS_FILE
from analysis.imports import skip_iri_checker

TEMPLATES = Path(__file__).resolve().parent / "templates"
KERNEL_NAME = "apim-snat"
REPORT_FILES = ("report.ipynb", "report.html", FINDINGS_FILE)


def ensure_kernel() -> str:
    """Register this environment's Python as the ``apim-snat`` Jupyter kernel, once."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
        # Not resolved: environments made from one Python share its binary, but not their packages.
        if Path(spec.argv[0]).absolute() == Path(sys.executable).absolute():
            return KERNEL_NAME
    except NoSuchKernel:
        pass
    from ipykernel.kernelspec import install

    install(kernel_name=KERNEL_NAME, display_name="Python (apim-snat kit)", prefix=sys.prefix)
    return KERNEL_NAME


def to_html(notebook_path: Path) -> str:
    """The executed notebook as one HTML page: code hidden, figures inline, no CDN."""
    import nbformat  # imported when used: with nbconvert it takes about a second
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        extra_template_basedirs=[str(TEMPLATES)],
        template_name="offline",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(nbformat.read(notebook_path, as_version=4))
    return body


def _check_target(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise KitError(f"{out_dir} exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / FINDINGS_FILE).exists():
        raise KitError(f"{out_dir} holds other files; give --out an empty or earlier report folder")


@contextmanager
def _staging(out_dir: Path) -> Iterator[Path]:
    """A hidden sibling folder that becomes ``out_dir`` only if the block succeeds."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    staging = out_dir.parent / f".{out_dir.name}.new-{token}"
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    retired = out_dir.parent / f".{out_dir.name}.old-{token}"
    if out_dir.exists():
        out_dir.rename(retired)
    staging.rename(out_dir)
    shutil.rmtree(retired, ignore_errors=True)


def render(out_dir: Path, parameters: dict[str, Any], progress: Callable[[str], None] = lambda _: None) -> Path:
    """Run the report notebook with ``parameters`` and write the report folder."""
    skip_iri_checker()
    import papermill
    from papermill.exceptions import PapermillExecutionError

    out_dir = Path(out_dir).resolve()  # the notebook runs in its output folder, not in the caller's
    _check_target(out_dir)
    kernel = ensure_kernel()
    with _staging(out_dir) as staging:
        progress("executing the report notebook")
        try:
            papermill.execute_notebook(
                str(report_notebook()),
                str(staging / "report.ipynb"),
                parameters={**parameters, "output_dir": str(staging)},
                kernel_name=kernel,
                # The kernel listens on loopback only; its start-up warning about plain TCP is noise here.
                extra_arguments=["--IPKernelApp.log_level=ERROR"],
                progress_bar=sys.stderr.isatty(),
                cwd=str(staging),
            )
        except PapermillExecutionError as err:
            if err.ename == "KitError":
                raise KitError(err.evalue) from None
            raise KitError(f"the report notebook failed: {err.ename}: {err.evalue}") from None
        progress("writing HTML")
        (staging / "report.html").write_text(to_html(staging / "report.ipynb"), encoding="utf-8")
        missing = [name for name in REPORT_FILES if not (staging / name).is_file()]
        if missing:
            raise KitError(f"the report notebook did not write {', '.join(missing)}")
    return out_dir
