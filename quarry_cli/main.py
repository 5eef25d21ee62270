"""The `quarry` commands. Each is a few lines over api.py, signin.py, uploads.py and render.py."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from quarry_cli import render
from quarry_cli.api import DEFAULT_API, Api
from quarry_cli.arguments import parse_pairs, search_filters
from quarry_cli.errors import FAILED, OK, USAGE, CliError
from quarry_cli.signin import Credentials, TokenCache, sign_in
from quarry_cli.uploads import collect_files, follow, summary, upload_all

app = typer.Typer(
    name="quarry",
    help="Upload, follow, search and delete documents in a Quarry deployment, through its public API.\n\n"
    "Exit codes: 0 all good; 1 some file FAILED or nothing was found; 2 usage error; 3 the API cannot be "
    "reached or will not sign you in.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
console = Console()
DEFAULT_CONFIG_DIR = Path(typer.get_app_dir("quarry"))  # XDG_CONFIG_HOME/quarry on Linux


class Context:
    def __init__(self, api_url: str, config_dir: Path, username: str | None, password: str | None):
        self.api_url = api_url.rstrip("/")
        self.cache = TokenCache(config_dir)
        self.credentials = Credentials(self.cache, self.api_url, username, password)
        self.api = Api(self.api_url, self.credentials.token, self.credentials.renew)
        self.credentials.api = self.api


@app.callback()
def options(
    ctx: typer.Context,
    api: Annotated[
        str,
        typer.Option(
            "--api", envvar="QUARRY_API", help="Base URL of the Quarry API (default: the local stack)."
        ),
    ] = DEFAULT_API,
    config_dir: Annotated[
        Path,
        typer.Option(
            "--config-dir",
            envvar="QUARRY_CONFIG_DIR",
            help="Where the sign-in tokens are kept, per API (default: your user config directory).",
        ),
    ] = DEFAULT_CONFIG_DIR,
    username: Annotated[
        str | None,
        typer.Option(
            envvar="QUARRY_USERNAME", help="For scripts: sign in as this user when no saved sign-in is valid."
        ),
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(
            envvar="QUARRY_PASSWORD", help="The password for --username (better from the environment)."
        ),
    ] = None,
) -> None:
    ctx.obj = Context(api, config_dir, username, password)


@app.command()
def login(
    ctx: typer.Context,
    username: Annotated[str, typer.Option("--username", "-u", help="Your user name in the API's user pool.")],
    password: Annotated[
        str | None,
        typer.Option(
            envvar="QUARRY_PASSWORD", help="Your password; asked for when not given (or QUARRY_PASSWORD)."
        ),
    ] = None,
) -> None:
    """Sign in to the API's user pool; the tokens are kept (per API) and renewed until the session ends."""
    context: Context = ctx.obj
    secret = password or getpass.getpass(f"password for {username}: ")
    session = sign_in(context.api, username, secret)
    context.cache.put(context.api_url, session)
    console.print(f"signed in to {context.api_url} as {username}")


@app.command()
def logout(ctx: typer.Context) -> None:
    """Forget the saved sign-in for this API."""
    context: Context = ctx.obj
    context.cache.put(context.api_url, None)
    console.print(f"signed out of {context.api_url}")


@app.command()
def upload(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (folders are read recursively).")],
    metadata: Annotated[
        list[str], typer.Option("--metadata", "-m", help="key=value stored with every file; repeat for more.")
    ] = [],  # noqa: B006 - Typer reads the default, it is never mutated
    wait: Annotated[
        bool, typer.Option("--wait", "-w", help="Follow each document to INDEXED or FAILED, then sum up.")
    ] = False,
    parallel: Annotated[int, typer.Option("--parallel", "-p", min=1, max=16, help="Uploads in flight.")] = 4,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="With --wait: seconds to wait for the last document.")
    ] = 600,
) -> None:
    """Upload files through the pre-signed form, with progress; exit 1 if any is refused or FAILED."""
    context: Context = ctx.obj
    pairs = parse_pairs(metadata, "--metadata")
    files = collect_files(paths)
    if not files:
        raise CliError("no files to upload under " + ", ".join(map(str, paths)), USAGE)
    outcomes = upload_all(context.api, files, pairs, parallel, console)
    if wait:
        follow(context.api, outcomes, console, timeout)
    console.print(summary(outcomes, waited=wait))
    bad = any(o.error or o.status in {"FAILED", "REFUSED", "EXPIRED"} for o in outcomes)
    raise typer.Exit(FAILED if bad else OK)


@app.command()
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="What to look for, in plain words.")],
    mode: Annotated[
        str, typer.Option("--mode", help="hybrid (vector and keyword, fused), vector or keyword.")
    ] = "hybrid",
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=100, help="How many results.")] = 10,
    filters: Annotated[
        list[str],
        typer.Option(
            "--filter",
            "-f",
            help="content_type=TYPE, key_prefix=PREFIX, document_id=ID, or any other key=value to match the "
            "documents' metadata; repeat for more (the same key twice: any of its values).",
        ),
    ] = [],  # noqa: B006 - Typer reads the default, it is never mutated
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the API's JSON answer, for scripts.")
    ] = False,
) -> None:
    """Search your documents; exit 1 when nothing matches."""
    if mode not in ("hybrid", "vector", "keyword"):
        raise typer.BadParameter("must be hybrid, vector or keyword", param_hint="--mode")
    context: Context = ctx.obj
    body: dict[str, Any] = {"query": query, "mode": mode, "k": k}
    if filters:
        body["filters"] = search_filters(filters)
    answer = context.api.call("POST", "/search", body)
    if as_json:
        render.print_json(console, answer)
    elif answer["results"]:
        console.print(render.results_table(answer["results"], query))
    else:
        console.print(f"nothing found for {query!r}")
    raise typer.Exit(OK if answer["results"] else FAILED)


@app.command("ls")
def list_documents(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option(
            "--status", "-s", help="Only documents in this state: PENDING, PROCESSING, INDEXED, FAILED, …"
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many documents.")] = 50,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the documents as JSON, for scripts.")
    ] = False,
) -> None:
    """List your documents, newest first."""
    context: Context = ctx.obj
    documents: list[dict[str, Any]] = []
    cursor = None
    while len(documents) < limit:
        page = context.api.call(
            "GET",
            "/documents",
            status=status.upper() if status else None,
            limit=min(100, limit),
            cursor=cursor,
        )
        documents.extend(page["documents"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    documents = documents[:limit]
    if as_json:
        render.print_json(console, documents)
    elif documents:
        console.print(render.documents_table(documents))
    else:
        console.print("no documents" + (f" with status {status.upper()}" if status else ""))


@app.command()
def show(
    ctx: typer.Context,
    document_id: Annotated[str, typer.Argument(help="The document's id (from `quarry ls` or `upload`).")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the API's JSON answer, for scripts.")
    ] = False,
) -> None:
    """One document: status, failure reason, extraction (title, summary, entities)."""
    document = ctx.obj.api.call("GET", f"/documents/{document_id}")
    if as_json:
        render.print_json(console, document)
    else:
        console.print(render.document_details(document))


@app.command("rm")
def remove(
    ctx: typer.Context,
    document_ids: Annotated[list[str], typer.Argument(help="The ids of the documents to delete.")],
) -> None:
    """Delete documents: their chunks, processed output and source file (a DELETED entry stays)."""
    for document_id in document_ids:
        ctx.obj.api.call("DELETE", f"/documents/{document_id}")
        console.print(f"deleted {document_id}")


@app.command()
def reindex(
    ctx: typer.Context,
    document_id: Annotated[str, typer.Argument(help="The id of the document to process again.")],
    wait: Annotated[bool, typer.Option("--wait", "-w", help="Follow it until INDEXED or FAILED.")] = False,
) -> None:
    """Process a document again from its source file (POST /documents/{id}/reindex)."""
    context: Context = ctx.obj
    document = context.api.call("POST", f"/documents/{document_id}/reindex")
    console.print(f"reindexing {document_id}: {document['status']}")
    if wait:
        from quarry_cli.uploads import Outcome

        outcome = Outcome(Path(render.file_name(document)), document_id, document["status"])
        follow(context.api, [outcome], console, timeout_s=600)
        console.print(summary([outcome], waited=True))
        raise typer.Exit(OK if outcome.ok else FAILED)


def run() -> None:
    """The console script: every expected failure is one line on stderr and its exit code."""
    try:
        app()
    except CliError as error:
        Console(stderr=True).print(f"quarry: {error.message}", style="red", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # a bug of ours: still one line, with what to report
        Console(stderr=True).print(
            f"quarry: unexpected {type(error).__name__}: {error} (please report it)",
            style="red",
            highlight=False,
        )
        sys.exit(FAILED)
