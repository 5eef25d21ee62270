"""`quarry` as a user runs it: a real process, against the running local stack, over its public API."""

from __future__ import annotations

import json
import re
import stat
import time
import tomllib
from pathlib import Path

import pytest

from tests.clients.conftest import ROOT, Quarry
from tests.conftest import ALICE, free_port
from tests.documents import FACT_DOCUMENTS, encrypt_pdf, make_pdf

pytestmark = pytest.mark.slow

COMMANDS = ("login", "logout", "upload", "search", "ls", "show", "rm", "reindex")


@pytest.fixture
def signed_in(quarry: Quarry) -> Quarry:
    done = quarry("login", "--username", ALICE.username, env={"QUARRY_PASSWORD": ALICE.password})
    assert done.returncode == 0, done.stderr
    assert f"as {ALICE.username}" in done.stdout
    tokens = Path(quarry.env["QUARRY_CONFIG_DIR"]) / "tokens.json"
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600  # the user's credentials: theirs alone
    return quarry


def test_upload_a_folder_with_wait_then_search_it(signed_in, tmp_path):
    folder = tmp_path / "facts"
    (folder / "nested").mkdir(parents=True)
    (folder / "lighthouse.txt").write_bytes(FACT_DOCUMENTS["lighthouse.txt"][0])
    (folder / "nested" / "orchard.md").write_bytes(FACT_DOCUMENTS["orchard.md"][0])
    (folder / "nested" / "cable.pdf").write_bytes(FACT_DOCUMENTS["cable.pdf"][0])

    done = signed_in("upload", str(folder), "--wait", "--metadata", "batch=cli")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 INDEXED, 0 FAILED, 3 file(s)" in done.stdout
    assert "bytes" in done.stdout and "3/3" in done.stdout  # the progress over bytes and files

    found = signed_in("search", "Skerryvore seabirds", "--json", "-k", "3", "--filter", "batch=cli")
    assert found.returncode == 0, found.stderr
    answer = json.loads(found.stdout)
    assert answer["results"][0]["source"]["key"].endswith("/lighthouse.txt")
    assert answer["results"][0]["metadata"] == {"batch": "cli"}
    assert len(answer["results"]) <= 3

    pdf_only = json.loads(
        signed_in("search", "cable ship", "--json", "--filter", "content_type=application/pdf").stdout
    )
    assert {r["source"]["key"].rsplit("/", 1)[1] for r in pdf_only["results"]} == {"cable.pdf"}

    table = signed_in("search", "Skerryvore seabirds", "--mode", "keyword")
    assert table.returncode == 0
    assert "lighthouse.txt" in table.stdout and "score" in table.stdout
    assert "Skerryvore" in table.stdout

    # Nothing found where something was asked for: exit 1.
    none = signed_in("search", "zyzzogeton", "--mode", "keyword", "--filter", "batch=cli")
    assert none.returncode == 1 and "nothing found" in none.stdout


def test_the_terminal_table_highlights_the_matched_words(signed_in, tmp_path):
    (tmp_path / "orchard.md").write_bytes(FACT_DOCUMENTS["orchard.md"][0])
    assert signed_in("upload", str(tmp_path / "orchard.md"), "--wait").returncode == 0
    colour = signed_in("search", "Bramley orchard", "--mode", "keyword", "-k", "1", env={"FORCE_COLOR": "1"})
    assert colour.returncode == 0
    # Rich's "bold reverse yellow" around each matched word, and not around the others.
    marked = re.findall(r"\x1b\[[0-9;]*7[0-9;]*m(\w+)\x1b\[0m", colour.stdout)
    assert {"Bramley", "orchard"} <= set(marked), colour.stdout
    assert "planted" not in marked


def test_a_failed_file_makes_the_exit_code_1_and_the_summary_names_its_reason(signed_in, tmp_path):
    (tmp_path / "good.txt").write_bytes(FACT_DOCUMENTS["lighthouse.txt"][0])
    (tmp_path / "locked.pdf").write_bytes(encrypt_pdf(make_pdf(["confidential"])))
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "sound.wav").write_bytes(b"RIFF0000WAVE")  # refused before any byte is sent

    done = signed_in("upload", str(tmp_path), "--wait")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 INDEXED, 3 FAILED, 4 file(s)" in done.stdout
    for code in ("ENCRYPTED", "EMPTY", "unsupported_type"):
        assert code in done.stdout, done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_ls_show_and_rm(signed_in, tmp_path):
    (tmp_path / "volcano.html").write_bytes(FACT_DOCUMENTS["volcano.html"][0])
    assert signed_in("upload", str(tmp_path / "volcano.html"), "--wait").returncode == 0
    listed = json.loads(signed_in("ls", "--status", "indexed", "--json").stdout)
    volcano = next(d for d in listed if d["source"]["key"].endswith("/volcano.html"))
    assert {d["status"] for d in listed} == {"INDEXED"}

    shown = signed_in("show", volcano["document_id"])
    assert shown.returncode == 0
    assert "INDEXED" in shown.stdout and "Mount Vireo" in shown.stdout  # the extraction's title
    assert "volcano.html" in signed_in("ls").stdout

    assert signed_in("rm", volcano["document_id"]).returncode == 0
    assert json.loads(signed_in("show", volcano["document_id"], "--json").stdout)["status"] == "DELETED"
    missing = signed_in("show", "f" * 32)
    assert missing.returncode == 1 and "no document with id" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


def test_the_cached_sign_in_is_refreshed_when_it_expires(signed_in):
    cache_file = signed_in.env["QUARRY_CONFIG_DIR"] + "/tokens.json"
    with open(cache_file) as file:
        cache = json.load(file)
    (session,) = cache.values()
    session["expires_at"] = 0  # as if an hour had passed
    with open(cache_file, "w") as file:
        json.dump(cache, file)
    assert signed_in("ls").returncode == 0
    with open(cache_file) as file:
        renewed = next(iter(json.load(file).values()))
    assert renewed["expires_at"] > time.time() + 600  # renewed with the refresh token, no password


def test_logout_forgets_the_sign_in(signed_in):
    assert signed_in("logout").returncode == 0
    after = signed_in("ls")
    assert after.returncode == 3 and "quarry login" in after.stderr


def test_without_a_sign_in_or_with_a_wrong_password_the_exit_code_is_3(quarry):
    not_signed = quarry("ls")
    assert not_signed.returncode == 3 and "quarry login" in not_signed.stderr
    wrong = quarry("login", "-u", ALICE.username, env={"QUARRY_PASSWORD": "not-it"})
    assert wrong.returncode == 3 and "sign-in refused" in wrong.stderr
    # A script may sign in from the environment instead.
    scripted = quarry("ls", env={"QUARRY_USERNAME": ALICE.username, "QUARRY_PASSWORD": ALICE.password})
    assert scripted.returncode == 0, scripted.stderr


def test_an_unreachable_api_is_exit_code_3_in_one_line(quarry):
    nowhere = f"http://127.0.0.1:{free_port()}"
    for args in (["login", "-u", "x"], ["ls"]):
        done = quarry(
            "--api", nowhere, *args, env={"QUARRY_PASSWORD": "x", "QUARRY_USERNAME": "x"}, timeout=60
        )
        assert done.returncode == 3, (args, done.stderr)
        assert "cannot reach the Quarry API" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_usage_errors_are_exit_code_2(signed_in, tmp_path):
    assert signed_in("search").returncode == 2  # no query
    assert signed_in("search", "x", "-k", "1000").returncode == 2
    bad_filter = signed_in("search", "x", "--filter", "nonsense")
    assert bad_filter.returncode == 2 and "key=value" in bad_filter.stderr
    assert signed_in("upload", str(tmp_path / "missing")).returncode == 2
    assert signed_in("frobnicate").returncode == 2


def option_names(help_text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])--?[a-z][a-z-]*", help_text))


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_describes_every_option(quarry, command):
    from typer.main import get_command

    from quarry_cli.main import app

    group = get_command(app)
    click_command = group if command is None else group.commands[command]
    done = quarry(*([command] if command else []), "--help")
    assert done.returncode == 0
    assert click_command.help and click_command.help.split()[0] in done.stdout
    for param in click_command.params:
        assert param.help, (command, param.name)
        if param.param_type_name == "option":
            assert set(param.opts) & option_names(done.stdout), (command, param.opts)
    if command is None:
        for name in COMMANDS:
            assert name in done.stdout


def test_the_project_installs_the_quarry_command():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["quarry"] == "quarry_cli.main:run"
    from quarry_cli.main import run

    assert callable(run)


def test_reindex_runs_a_document_again_and_a_deleted_one_is_refused(signed_in, tmp_path):
    (tmp_path / "trams.csv").write_bytes(FACT_DOCUMENTS["trams.csv"][0])
    assert signed_in("upload", str(tmp_path / "trams.csv"), "--wait").returncode == 0
    listed = json.loads(signed_in("ls", "--status", "indexed", "--json").stdout)
    trams = next(d for d in listed if d["source"]["key"].endswith("/trams.csv"))

    done = signed_in("reindex", trams["document_id"], "--wait")

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"reindexing {trams['document_id']}: INDEXED" in done.stdout
    deadline = time.monotonic() + 120
    while (
        json.loads(signed_in("show", trams["document_id"], "--json").stdout)["updated_at"]
        == trams["updated_at"]
    ):
        assert time.monotonic() < deadline, "the reindex never ran"
        time.sleep(0.5)

    assert signed_in("rm", trams["document_id"]).returncode == 0
    refused = signed_in("reindex", trams["document_id"])
    assert refused.returncode != 0 and "Traceback" not in refused.stdout + refused.stderr
    assert "deleted" in refused.stdout + refused.stderr
