"""Execute the report notebook with papermill into a claimed ``--out`` folder, and export it to HTML.

The folder rules (marker, lock, staging, one-step swap) are ``outfolder``'s; this module runs the
notebook in the staging folder under the kit's kernel, whose connection file lives in that folder
too (so nothing of a killed run outlives it), and whose own output is silenced unless verbose.
The kernel is started as soon as the staging folder exists (``report_run``), importing what the
notebook imports, so that its start overlaps the command line's queries instead of following them.
The executed notebook keeps no local absolute path: papermill's record of the input and output
paths and the source's path are rewritten to file names before the notebook is saved.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.assets import REPORT_NOTEBOOK, report_notebook
from analysis.errors import KitError
from analysis.investigation.findings import FINDINGS_FILE
from analysis.investigation.imports import skip_iri_checker
from analysis.report.from_folder import keep_ip_map, keep_parameters
from analysis.report.html_page import to_html
from analysis.report.outfolder import Kind, kernel_dir, staging
from analysis.report.request import ReportRequest
from analysis.sources.sharing import Pseudonyms

KERNEL_NAME = "apim-snat"
REPORT_FILE = "report.ipynb"
HTML_FILE = "report.html"
REPORT_FILES = (REPORT_FILE, HTML_FILE, FINDINGS_FILE)


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


def kernel_manager(runtime: Path, verbose: bool) -> type:
    """A kernel manager class whose connection file is in ``runtime`` and whose kernel prints nothing.

    Without it the connection file lands in the system's temporary folder, where a killed run
    leaves it, and an interrupted kernel writes ZMQ errors over the user's terminal.
    """
    from jupyter_client.manager import AsyncKernelManager

    class ReportKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.connection_file = str(runtime / "kernel.json")

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            if not verbose:
                kw.update(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            await super()._async_launch_kernel(kernel_cmd, **kw)

    return ReportKernelManager


def share_notebook(path: Path, shown: dict[str, Any]) -> None:
    """Rewrite the executed notebook's parameters (injected cell and papermill's record) as ``shown``.

    Papermill records where it read and wrote the notebook and the parameters it injected; the
    report shows file names only, never the local absolute paths the run needed.
    """
    import nbformat
    from papermill.translators import translate_parameters

    notebook = nbformat.read(path, as_version=4)
    record = notebook.metadata.get("papermill", {})
    record.update(input_path=REPORT_NOTEBOOK, output_path=REPORT_FILE, parameters=shown)
    language = notebook.metadata.get("kernelspec", {}).get("language", "python")
    for cell in notebook.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.source = translate_parameters(KERNEL_NAME, language, shown, "Parameters")
    nbformat.write(notebook, path)


def notebook_imports(path: Path) -> str:
    """The import statements of the notebook's code cells, one per line: what its kernel can import early.

    >>> print(notebook_imports(report_notebook()).splitlines()[0])
    from IPython.display import Markdown, display
    """
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    lines = []
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        try:
            tree = ast.parse("".join(cell["source"]))
        except SyntaxError:  # a cell with IPython syntax: its imports are simply not taken early
            continue
        lines += [ast.unparse(node) for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    return "\n".join(dict.fromkeys(lines))


#: Each figure is drawn once: by default the inline backend draws it a second time only to trim its
#: margins, which the figures' ``tight_layout`` already keeps small (nothing lies outside the canvas).
ONCE = "%config InlineBackend.print_figure_kwargs = {'bbox_inches': None}"


@dataclass(frozen=True)
class ReportRun:
    """A report being made: its staging folder, and the notebook's kernel already starting in it."""

    folder: Path
    kernel: Any
    """The kernel's manager (jupyter_client's ``AsyncKernelManager``)."""


@contextmanager
def report_run(
    out_dir: Path, verbose: bool = False, environment: Mapping[str, str] | None = None
) -> Iterator[ReportRun]:
    """``out_dir``'s staging folder (claimed by the caller) with the report's kernel started in it.

    The kernel runs in the folder with ``environment`` added to this process's, and imports what the
    notebook imports while the caller queries. The folder replaces ``out_dir`` when the block ends
    without error; the kernel is shut down either way.
    """
    from jupyter_core.utils import run_sync

    skip_iri_checker()  # before papermill or nbformat import jsonschema
    kernel = ensure_kernel()
    with staging(out_dir, Kind.REPORT) as folder:
        manager = kernel_manager(kernel_dir(folder), verbose)(kernel_name=kernel)
        warm = f"--IPKernelApp.exec_lines={ONCE}\n{notebook_imports(report_notebook())}"
        run_sync(manager.start_kernel)(
            cwd=str(folder),
            env={**os.environ, **(environment or {})},
            # The kernel listens on loopback only; its start-up warning about plain TCP is noise here.
            extra_arguments=["--IPKernelApp.log_level=ERROR", warm],
        )
        try:
            yield ReportRun(folder, manager)
        finally:
            run_sync(manager.shutdown_kernel)(now=True)  # the notebook has run, or will not


def render(
    run: ReportRun,
    request: ReportRequest,
    shown_sources: str,
    progress: Callable[[str], None] = lambda _: None,
    progress_bar: bool = False,
) -> None:
    """Run the report notebook with ``request``'s parameters on the run's kernel, in its staging folder.

    The saved notebook and ``parameters.json`` name the sources ``shown_sources`` (no local path); the
    request's IP map is written into the report (its IPs as pseudonyms when redacted, under the run's
    ``APIM_SNAT_REDACT_KEY``, the kernel's too) and read from there.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    folder = run.folder
    # The report keeps its own copy of the map, so it can be rendered again from the folder alone.
    redact = Pseudonyms.from_environment() if request.redact else None
    parameters = request.parameters(ip_map=keep_ip_map(folder, request.ip_map, redact))
    shown = {**parameters, "source": shown_sources, "output_dir": "."}
    progress("executing the report notebook")
    notebook = folder / REPORT_FILE
    try:
        papermill.execute_notebook(
            str(report_notebook()),
            str(notebook),
            parameters={**parameters, "output_dir": "."},
            kernel_name=run.kernel.kernel_name,
            km=run.kernel,
            progress_bar=progress_bar,
            # Written once when done, not after every cell: the staging folder goes if a cell fails.
            request_save_on_cell_execute=False,
        )
    except PapermillExecutionError as err:
        if err.ename == "KitError":
            raise KitError(err.evalue) from None
        raise KitError(f"the report notebook failed: {err.ename}: {err.evalue}") from None
    share_notebook(notebook, shown)
    keep_parameters(folder, shown)
    progress("writing HTML")
    (folder / HTML_FILE).write_text(to_html(notebook), encoding="utf-8")
    missing = [name for name in REPORT_FILES if not (folder / name).is_file()]
    if missing:
        raise KitError(f"the report notebook did not write {', '.join(missing)}")
