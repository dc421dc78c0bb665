"""The container deployment (issue 17): deploy/Containerfile, deploy/compose.yaml, the settings
the container reads (deploy/container-serve.toml) and the build context's .dockerignore.

No container engine is needed: the files are read and checked against the project itself
(the config loader, the app's routes, pyproject's extras, the files a COPY names)."""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from dataclasses import fields
from ipaddress import ip_address, ip_network
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from helpers import REPO
from starlette.routing import Match

from breachindex.campaign.store import is_postgresql_url
from breachindex.server.app import OPERATIONS, create_app
from breachindex.server.cli import check_forwarded_allow_ips
from breachindex.server.config import ServerConfig
from breachindex.server.config_file import PROCESS_KEYS, read_config_file

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10: the same parser, from PyPI ([server] installs it)
    import tomli as tomllib

DEPLOY = REPO / "deploy"
CONTAINERFILE = DEPLOY / "Containerfile"
COMPOSE = DEPLOY / "compose.yaml"
SECRETS_DIR = "/run/secrets"
BASE_IMAGE = "python:3.11-slim-bookworm"


# ---- reading the files -----------------------------------------------------------------------

def instructions(text: str) -> list[tuple[str, str]]:
    """A Containerfile's instructions as (KEYWORD, arguments): continuation lines joined,
    comments and blank lines dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        keyword, _, rest = whole.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    assert not pending, "the Containerfile ends inside a continued line"
    return out


def stages(text: str) -> list[list[tuple[str, str]]]:
    """The instructions of each build stage, each list starting with its FROM."""
    found: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions(text):
        if keyword == "FROM":
            found.append([])
        assert found, f"{keyword} before the first FROM"
        found[-1].append((keyword, rest))
    return found


def exec_form(rest: str) -> list[str]:
    """The JSON (exec) form of CMD/ENTRYPOINT/RUN arguments; fails for the shell form."""
    value = json.loads(rest)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), rest
    return value


def copy_sources(rest: str) -> tuple[list[str], str, dict[str, str]]:
    """(sources, destination, --flags) of a COPY instruction in its shell form."""
    words = shlex.split(rest)
    flags = {}
    while words and words[0].startswith("--"):
        name, _, value = words.pop(0)[2:].partition("=")
        flags[name] = value
    return words[:-1], words[-1], flags


def dockerignore_patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go's filepath.Match plus ``**``) as a regex over a relative path."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i:end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether the build context leaves ``path`` out: it, or a folder above it, matches the
    last pattern that decides (``!`` patterns take a path back in), as docker and podman do."""
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    verdict = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern[1:] if negated else pattern
        regex = _pattern_regex(str(PurePosixPath(body.lstrip("/"))))
        if any(regex.match(c) for c in candidates):
            verdict = not negated
    return verdict


def tracked_files(*folders: str) -> list[str]:
    """The files git tracks under ``folders`` (every file there when git is not at hand)."""
    if shutil.which("git") and (REPO / ".git").exists():
        done = subprocess.run(["git", "-C", str(REPO), "ls-files", "--", *folders], capture_output=True, text=True,
                              check=True)
        return done.stdout.split()
    return [str(p.relative_to(REPO)) for folder in folders for p in (REPO / folder).rglob("*") if p.is_file()]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and set(data["services"]) == {"db", "migrate", "server"}
    return data


@pytest.fixture(scope="module")
def containerfile() -> list[list[tuple[str, str]]]:
    return stages(CONTAINERFILE.read_text(encoding="utf-8"))


def final(containerfile: list[list[tuple[str, str]]], keyword: str) -> list[str]:
    """The arguments of ``keyword`` in the last stage, in order."""
    return [rest for k, rest in containerfile[-1] if k == keyword]


def config_path(containerfile: list[list[tuple[str, str]]]) -> str:
    entrypoint = exec_form(final(containerfile, "ENTRYPOINT")[-1])
    return entrypoint[entrypoint.index("--config") + 1]


def secret_targets(service: dict[str, Any]) -> dict[str, str]:
    """The secrets a service mounts: absolute path in the container -> secret name."""
    out = {}
    for item in service.get("secrets", []):
        name = item if isinstance(item, str) else item["source"]
        target = name if isinstance(item, str) else item.get("target", name)
        out[target if target.startswith("/") else f"{SECRETS_DIR}/{target}"] = name
    return out


def mounts(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The service's volumes by target, each as the long syntax (short entries converted)."""
    out = {}
    for item in service.get("volumes", []):
        if isinstance(item, str):
            source, target, *options = item.split(":")
            item = {"source": source, "target": target, "read_only": "ro" in ",".join(options).split(","),
                    "type": "bind" if source.startswith((".", "/", "$", "~")) else "volume"}
        out[item["target"]] = item
    return out


def under(path: str, folder: str) -> bool:
    return PurePosixPath(path).is_relative_to(PurePosixPath(folder))


def container_settings() -> dict[str, Any]:
    return read_config_file(str(DEPLOY / "container-serve.toml"))


# ---- the Containerfile -----------------------------------------------------------------------

def test_two_stages_from_bookworm_the_compiler_only_in_the_first(containerfile) -> None:
    assert len(containerfile) == 2
    build, run = containerfile
    assert build[0][1].split() == [BASE_IMAGE, "AS", "build"] or build[0][1].split() == [BASE_IMAGE, "as", "build"]
    assert run[0][1].split()[0] == BASE_IMAGE
    build_runs = " ".join(rest for k, rest in build if k == "RUN")
    assert re.search(r"apt-get install .*\bgcc\b", build_runs) and "libc6-dev" in build_runs
    assert re.search(r"\bpip wheel\b.*\s'?\.(\[|\s|'|$)", build_runs), "stage 1 builds the project's wheel"
    run_runs = " ".join(rest for k, rest in run if k == "RUN")
    assert "apt-get" not in run_runs and "gcc" not in run_runs, "no compiler in the image that runs"
    assert "pip install" in run_runs and "--no-index" in run_runs, "stage 2 installs stage 1's wheels only"
    assert "from=build" in run_runs, "the wheels come from stage 1"


def test_the_extras_installed_are_the_projects_and_bring_the_server_and_psycopg(containerfile) -> None:
    optional = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"]
    run_runs = " ".join(rest for k, rest in containerfile[-1] if k == "RUN")
    wheel_runs = " ".join(rest for k, rest in containerfile[0] if k == "RUN")
    installed = re.search(r"breachindex\[([a-z,]+)\]", run_runs)
    built = re.search(r"\.\[([a-z,]+)\]", wheel_runs)
    assert installed and built and installed.group(1) == built.group(1)
    extras = installed.group(1).split(",")
    assert set(extras) <= set(optional), f"unknown extras {set(extras) - set(optional)}"

    def names(extra: str) -> set[str]:
        out: set[str] = set()
        for requirement in optional[extra]:
            name = re.split(r"[\[<>=;! ]", requirement, maxsplit=1)[0].lower()
            inner = re.fullmatch(r"breachindex\[([a-z,]+)\]", requirement.split(";")[0].strip())
            out |= set().union(*(names(e) for e in inner.group(1).split(","))) if inner else {name}
        return out

    brought = set().union(*(names(e) for e in extras))
    assert {"starlette", "uvicorn", "psycopg", "psycopg-pool", "pynacl"} <= brought


def test_the_entrypoint_serves_with_the_config_file(containerfile) -> None:
    assert exec_form(final(containerfile, "ENTRYPOINT")[-1]) == [
        "breachindex", "serve", "--config", "/etc/breachindex/serve.toml"]
    assert final(containerfile, "CMD") == [], "a CMD would add arguments to serve"


def test_every_copy_source_exists_and_is_in_the_build_context(containerfile) -> None:
    patterns = dockerignore_patterns()
    copied: list[str] = []
    for stage in containerfile:
        for keyword, rest in stage:
            assert keyword != "ADD", "COPY only: ADD would fetch URLs and unpack archives"
            if keyword != "COPY":
                continue
            sources, _, flags = copy_sources(rest)
            if "from" in flags:
                continue
            for source in sources:
                path = REPO / source
                assert path.exists(), f"COPY {source}: no such file in the repository"
                assert not ignored(source.rstrip("/"), patterns), f"COPY {source}: .dockerignore leaves it out"
                copied.append(source.rstrip("/"))
    # what `pip wheel .` reads: the build files, the readme pyproject names, the C sources, the package
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for needed in ("pyproject.toml", "setup.py", project["readme"], "native/build_native.py", "native/fastcall.c",
                   "breachindex/__init__.py", "breachindex/server/static/index.html"):
        assert any(needed == c or under(needed, c) for c in copied), f"{needed} is not copied"


def test_the_build_context_keeps_out_history_builds_environments_caches_and_secrets(containerfile) -> None:
    patterns = dockerignore_patterns()
    for path in (".git/HEAD", "build/lib/breachindex/x.py", "dist/breachindex-0.1.0.tar.gz",
                 "breachindex.egg-info/PKG-INFO", ".venv/bin/python", "venv/bin/python", ".pytest_cache/v/x",
                 ".mypy_cache/3.11/x.json", ".ruff_cache/x", ".hypothesis/examples/x",
                 "breachindex/__pycache__/format.cpython-311.pyc", "breachindex/_native.abi3.so",
                 "breachindex/_fastcall.abi3.so", "deploy/secrets/leak.key", "deploy/secrets/pgpass",
                 "leak.key", "tests/server/test_deploy.py"):
        assert ignored(path, patterns), f"{path} would be sent to the build"
    sources = [f for f in tracked_files("breachindex", "native") if not f.startswith("native/fuzz/")]
    assert len(sources) > 50
    assert [f for f in sources if ignored(f, patterns)] == []
    assert not ignored("deploy/container-serve.toml", patterns)


def test_the_image_runs_as_a_fixed_user_that_is_not_root(containerfile, compose) -> None:
    users = final(containerfile, "USER")
    assert users, "the last stage sets no USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) >= 1000 and (not gid or (gid.isdigit() and int(gid) != 0))
    runs = " ".join(final(containerfile, "RUN"))
    assert re.search(rf"useradd .*--uid {uid}\b", runs), "the user is created with the uid USER names"
    assert re.search(rf"install -d -m 0700 -o {uid} -g {gid or uid} /var/lib/breachindex", runs)
    # nothing after USER goes back to root
    last = containerfile[-1]
    after = last[max(i for i, (k, _) in enumerate(last) if k == "USER"):]
    assert [k for k, _ in after].count("USER") == 1
    server_user = str(compose["services"]["server"].get("user", users[-1]))
    assert server_user.split(":")[0] == uid, "compose runs the server as the image's user"


def test_the_healthcheck_asks_a_real_unauthenticated_route_with_urllib(containerfile, compose) -> None:
    (health,) = final(containerfile, "HEALTHCHECK")
    options, _, command = health.partition("CMD ")
    assert re.search(r"--interval=\d+s", options) and re.search(r"--timeout=\d+s", options)
    argv = exec_form(command)
    assert argv[0] == "python" and argv[1] == "-c" and "urllib.request" in argv[2]
    assert not any(tool in health for tool in ("curl", "wget"))
    (url,) = re.findall(r"https?://[^'\"\s]+", argv[2])
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1"
    settings = container_settings()
    expose = final(containerfile, "EXPOSE")
    assert parts.port == settings["port"] and [str(settings["port"])] == " ".join(expose).split()
    published = [str(p).rsplit(":", 1)[-1] for p in compose["services"]["server"]["ports"]]
    assert published == [str(settings["port"])]
    app = create_app(ServerConfig(index="unused", key="unused", campaign="unused.db"), configure_logs=False)
    scope = {"type": "http", "method": "GET", "path": parts.path, "root_path": "", "query_string": b"",
             "headers": []}
    assert any(route.matches(scope)[0] is Match.FULL for route in app.routes), f"{parts.path} is not a route"
    (operation,) = [op for op in OPERATIONS if op.path == parts.path and op.method == "GET"]
    assert operation.scope is None, "the health check carries no API key"


# ---- the settings the container reads ------------------------------------------------------------

def test_the_config_file_is_the_one_the_image_and_compose_use_and_the_loader_accepts(containerfile, compose) -> None:
    target = config_path(containerfile)
    copies = [copy_sources(rest) for rest in final(containerfile, "COPY")]
    assert [sources for sources, dest, _ in copies if dest == target] == [["deploy/container-serve.toml"]]
    (mounted,) = [c for c in compose["services"]["server"]["configs"] if c["target"] == target]
    assert (COMPOSE.parent / compose["configs"][mounted["source"]]["file"]).resolve() == \
        DEPLOY / "container-serve.toml"
    settings = container_settings()
    app_keys = {f.name for f in fields(ServerConfig)}
    config = ServerConfig(**{k: v for k, v in settings.items() if k in app_keys})
    assert set(settings) - app_keys <= set(PROCESS_KEYS)
    assert settings["host"] == "0.0.0.0" and settings["workers"] >= 1
    check_forwarded_allow_ips(settings["forwarded_allow_ips"])
    assert config.exports.is_absolute()


def test_the_config_points_at_the_mounted_secrets_volumes_and_database(compose) -> None:
    settings = container_settings()
    server, db = compose["services"]["server"], compose["services"]["db"]
    secrets = secret_targets(server)
    volumes = mounts(server)
    for name in ("key", "api_keys"):
        assert settings[name] in secrets, f"{name} = {settings[name]} is not a secret the server mounts"
    index_mount = [v for target, v in volumes.items() if under(settings["index"], target)]
    assert len(index_mount) == 1 and index_mount[0]["read_only"] is True
    for name in ("vault", "export_dir"):
        (mount,) = [v for target, v in volumes.items() if under(settings[name], target)]
        assert mount["type"] == "volume" and not mount.get("read_only"), f"{name} is not on the data volume"
        assert mount["source"] in compose["volumes"]
    conninfo = pytest.importorskip("psycopg.conninfo", reason="needs psycopg: pip install '.[postgresql]'")
    url = settings["campaign"]
    assert is_postgresql_url(url) and urlsplit(url).password is None
    info = conninfo.conninfo_to_dict(url)
    assert "password" not in info
    assert info["host"] == "db" and info["dbname"] == db["environment"]["POSTGRES_DB"]
    assert info["passfile"] in secrets, "libpq's password file is a secret the server mounts"
    # the server connects as the role migrate grants, not as the schema's owner; only migrate has the owner's
    argv = migrate_argv(compose)
    owner = conninfo.conninfo_to_dict(argv[argv.index("--db") + 1])
    assert info["user"] == argv[argv.index("--role") + 1] != db["environment"]["POSTGRES_USER"] == owner["user"]
    assert (owner["host"], owner["dbname"]) == (info["host"], info["dbname"]) and "password" not in owner
    migrate_secrets = secret_targets(compose["services"]["migrate"])
    assert set(migrate_secrets) == {owner["passfile"]}
    assert not set(migrate_secrets.values()) & set(secrets.values()), "the server never gets the owner's password"
    # the gateway of the network the port is published on is the proxy forwarded_allow_ips trusts
    networks = compose["networks"]
    gateways = {net["ipam"]["config"][0]["gateway"] for name, net in networks.items()
                if name in server["networks"] and not net.get("internal") and "ipam" in net}
    assert {settings["forwarded_allow_ips"]} == gateways
    for net in networks.values():
        if "ipam" in net:
            for block in net["ipam"]["config"]:
                assert ip_address(block["gateway"]) in ip_network(block["subnet"])


# ---- compose ---------------------------------------------------------------------------------

def test_every_secret_referenced_is_declared_as_a_file_kept_out_of_git_and_the_build(compose) -> None:
    declared = compose["secrets"]
    used: set[str] = set()
    for name, service in compose["services"].items():
        for path, secret in secret_targets(service).items():
            assert secret in declared, f"{name} mounts the undeclared secret {secret}"
            assert under(path, SECRETS_DIR)
            used.add(secret)
    assert used == set(declared), f"declared but never used: {set(declared) - used}"
    patterns = dockerignore_patterns()
    for name, secret in declared.items():
        assert set(secret) == {"file"}, f"secret {name}: a file, not an environment variable or a literal"
        relative = (COMPOSE.parent / secret["file"]).resolve().relative_to(REPO)
        assert under(str(relative), "deploy/secrets"), f"secret {name} lives outside deploy/secrets"
        assert ignored(str(relative), patterns), f"secret {name} would be sent to the build"
    if shutil.which("git") and (REPO / ".git").exists():
        for secret in declared.values():
            path = (COMPOSE.parent / secret["file"]).resolve()
            done = subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", str(path)], check=False)
            assert done.returncode == 0, f"{path} is not ignored by git"
    # the database reads its password from a file too
    db = compose["services"]["db"]
    assert db["environment"]["POSTGRES_PASSWORD_FILE"] in secret_targets(db)


def test_ports_are_published_on_the_loopback_only(compose) -> None:
    published = 0
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            if isinstance(port, dict):
                host_ip = port.get("host_ip")
            else:
                text = str(port)
                match = re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[\d.]+):(\d+(?:-\d+)?):(\d+(?:-\d+)?)(/tcp|/udp)?", text)
                assert match, f"{name}: {text} does not name the address to bind"
                host_ip = match.group(1).strip("[]")
            assert host_ip is not None and ip_address(host_ip).is_loopback, f"{name}: {port} is not on loopback"
            published += 1
    assert published == 1 and "ports" not in compose["services"]["db"]
    assert compose["networks"][compose["services"]["db"]["networks"][0]].get("internal") is True
    assert compose["services"]["db"]["networks"] == ["back"]


def test_the_server_is_confined(compose) -> None:
    server = compose["services"]["server"]
    assert server["read_only"] is True
    assert any(str(t).split(":")[0] == "/tmp" for t in server["tmpfs"])
    assert server["cap_drop"] == ["ALL"] and "cap_add" not in server
    assert "no-new-privileges:true" in server["security_opt"]
    assert "privileged" not in server and server.get("network_mode") != "host"
    memlock = server["ulimits"]["memlock"]
    assert (memlock == -1) or (memlock["soft"] == -1 and memlock["hard"] == -1)
    assert server["depends_on"]["db"]["condition"] == "service_healthy"
    assert server["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    build = server["build"]
    context = (COMPOSE.parent / build["context"]).resolve()
    assert context == REPO and (context / build["dockerfile"]).resolve() == CONTAINERFILE


def migrate_argv(compose: dict[str, Any]) -> list[str]:
    migrate = compose["services"]["migrate"]
    return [*migrate["entrypoint"], *migrate["command"]]


def test_migrate_grants_the_app_role_as_the_owner_with_the_servers_image_and_confinement(compose) -> None:
    migrate, server = compose["services"]["migrate"], compose["services"]["server"]
    assert (migrate["image"], migrate["build"]) == (server["image"], server["build"])
    assert migrate["user"] == server["user"] and migrate["restart"] == "no"
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert migrate["read_only"] is True and migrate["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in migrate["security_opt"] and migrate["networks"] == ["back"]
    argv = migrate_argv(compose)
    assert argv[:3] == ["breachindex", "campaign", "grant-app-role"]
    done = subprocess.run([sys.executable, "-m", "breachindex", *argv[1:3], "--help"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0 and "--role" in done.stdout, done.stderr


def test_the_database_service(compose) -> None:
    db = compose["services"]["db"]
    assert db["image"] == "postgres:15-bookworm"
    (data,) = [v for v in mounts(db).values() if v["target"] == "/var/lib/postgresql/data"]
    assert data["type"] == "volume" and data["source"] in compose["volumes"]
    test = db["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL") and "pg_isready" in " ".join(test[1:])
    assert "no-new-privileges:true" in db["security_opt"]
    # the app role's script runs once, on the first start, from the entrypoint's folder
    (script,) = [c for c in db["configs"] if c["target"].startswith("/docker-entrypoint-initdb.d/")]
    assert script["target"].endswith(".sh")
    path = (COMPOSE.parent / compose["configs"][script["source"]]["file"]).resolve()
    assert path == DEPLOY / "db-app-role.sh" and os.access(path, os.X_OK)
    assert "/run/secrets/db_app_password" in secret_targets(db)


def test_the_app_roles_script_makes_the_role_the_server_uses_and_grant_app_role_confines_it(
        compose, pg_cluster, tmp_path: Path) -> None:
    """deploy/db-app-role.sh as the postgres image runs it (as POSTGRES_USER, psql on a socket),
    then migrate's command: the server's role can verify a number and write the audit log, but
    neither change the schema nor rewrite the log."""
    psycopg = pytest.importorskip("psycopg")
    from breachindex import Key
    from breachindex.campaign import Campaign, Limits, RecordingSender
    from breachindex.cli.campaign_migrate import grant_main

    url = pg_cluster.new_database()
    role = migrate_argv(compose)[migrate_argv(compose).index("--role") + 1]
    password = tmp_path / "db_app_password"
    password.write_text("it's a 'quoted' pass; DROP ROLE postgres; --", encoding="utf-8")
    env = {**os.environ, "POSTGRES_USER": "postgres", "POSTGRES_DB": pg_cluster.database_of(url),
           "PGHOST": str(pg_cluster.socket_dir), "BREACHINDEX_APP_PASSWORD_FILE": str(password),
           "PATH": f"{pg_cluster.bindir}{os.pathsep}{os.environ['PATH']}"}
    try:
        done = subprocess.run([str(DEPLOY / "db-app-role.sh")], env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        with psycopg.connect(url, autocommit=True) as conn:
            (flags,) = conn.execute("SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, "
                                    "left(rolpassword, 14) FROM pg_authid WHERE rolname = %s", (role,)).fetchall()
        assert flags == (False, False, False, True, "SCRAM-SHA-256$")
        assert grant_main(["--db", url, "--role", role]) == 0  # as the owner: migrates, then grants
        app_url = pg_cluster.url_of(pg_cluster.database_of(url), user=role)
        sender = RecordingSender()
        with Campaign(app_url, secret=Key(bytes(range(32))), sender=sender, limits=Limits.off()) as c:
            challenge = c.start_verification("+31612345678")
            c.confirm_verification(challenge.id, sender.last_code())
            assert c.verify_audit_log().entries == 1
        with psycopg.connect(app_url, autocommit=True) as conn:
            for statement in ("UPDATE audit_log SET kind = kind", "DELETE FROM audit_log",
                              "ALTER TABLE audit_log DISABLE TRIGGER USER", "CREATE TABLE mine (x int)",
                              "DROP TABLE participants"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
    finally:
        with contextlib.suppress(psycopg.Error):  # the role may not exist if the script failed
            pg_cluster.execute(f'DROP OWNED BY "{role}"', database=pg_cluster.database_of(url))
        pg_cluster.drop_database(url)
        pg_cluster.execute(f'DROP ROLE IF EXISTS "{role}"')


# ---- no secret in any of the files -----------------------------------------------------------------

_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|(?<![A-Z])KEY(?![A-Z])|API_?KEY", re.I)


def _scan_for_literals(name: str, text: str) -> list[str]:
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        where = f"{name}:{number}: {line.strip()}"
        if re.search(r"[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:[^/\s@'\"]+@", line, re.I):
            found.append(f"{where} (credentials in a URL)")
        if re.search(r"\bbik_[A-Za-z0-9]", line):
            found.append(f"{where} (an API key)")
        if re.search(r"\b[0-9a-fA-F]{32,}\b", line):
            found.append(f"{where} (a hex secret)")
        for token in re.findall(r"[A-Za-z0-9+/=_-]{24,}", line):
            if all(re.search(c, token) for c in ("[a-z]", "[A-Z]", "[0-9]")):
                found.append(f"{where} (a random-looking literal {token[:6]}...)")
        for name_, value in re.findall(r"([A-Za-z_][A-Za-z0-9_.-]*)\s*[=:]\s*['\"]?([^\s'\"#]+)", line):
            if (_SECRET_NAME.search(name_) and not re.search(r"(_FILE|_file|passfile)$", name_)
                    and not value.startswith("/")):
                found.append(f"{where} (a value for {name_})")
    return found


def test_no_file_embeds_a_password_or_a_key(compose, containerfile) -> None:
    found: list[str] = []
    for path in (CONTAINERFILE, COMPOSE, DEPLOY / "container-serve.toml", DEPLOY / "db-app-role.sh",
                 REPO / ".dockerignore"):
        found += _scan_for_literals(path.name, path.read_text(encoding="utf-8"))
    for name, service in compose["services"].items():
        environment = service.get("environment", {})
        if isinstance(environment, list):
            environment = dict(item.partition("=")[::2] for item in environment)
        for key, value in environment.items():
            if _SECRET_NAME.search(key):
                assert key.endswith("_FILE") and under(str(value), SECRETS_DIR), f"{name}: {key} holds a secret"
    for stage in containerfile:
        for keyword, rest in stage:
            if keyword in ("ENV", "ARG"):
                assert not _SECRET_NAME.search(rest), f"{keyword} {rest}: secrets stay in the image's history"
    assert found == []


def test_the_secret_scan_finds_what_it_should() -> None:
    """The scan above is not vacuous: each kind of literal is found."""
    for line in ('campaign = "postgresql://breachindex:hunter2@db/breachindex"',
                 "      POSTGRES_PASSWORD: hunter2",
                 "api = bik_0123456789ab_secret",
                 "key = 8f14e45fceea167a5a36dedd4bea2543a8c1f2e1b7d0c3a4",
                 "TOKEN=Zx81kQpL0vTt9WmNc2RbYh7aJd4E"):
        assert _scan_for_literals("x", line), line
    assert _scan_for_literals("x", 'key = "/run/secrets/leak_key"') == []


# ---- stage 1 without an engine -----------------------------------------------------------------

def _build_requirements_missing() -> str | None:
    """Why ``pip wheel --no-build-isolation`` cannot run here (None: it can)."""
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        return "needs a C compiler"
    for module in ("setuptools", "cffi"):
        if importlib.util.find_spec(module) is None:
            return f"needs {module} installed (the build requirements, not fetched here)"
    if importlib.util.find_spec("wheel") is None and importlib.util.find_spec("setuptools.command.bdist_wheel") is None:
        return "needs wheel (or setuptools >= 70.1)"
    return None


@pytest.mark.skipif(_build_requirements_missing() is not None, reason=str(_build_requirements_missing()))
def test_stage_one_builds_the_wheel_from_what_it_copies(containerfile, tmp_path: Path) -> None:
    """Stage 1's COPY steps, from the build context .dockerignore leaves, are enough for
    ``pip wheel .`` to compile the C core into the wheel (without the dependencies' wheels:
    ``--no-deps``, and the build requirements installed here instead of fetched)."""
    patterns = dockerignore_patterns()
    src = tmp_path / "src"
    for keyword, rest in containerfile[0]:
        if keyword != "COPY":
            continue
        sources, dest, _ = copy_sources(rest)
        for source in sources:
            origin = REPO / source
            files = [origin] if origin.is_file() else [p for p in origin.rglob("*") if p.is_file()]
            for file in files:
                relative = file.relative_to(REPO)
                if ignored(str(relative), patterns):
                    continue
                inside = relative.relative_to(source.rstrip("/")) if origin.is_dir() else Path(file.name)
                target = src / dest / inside if dest.endswith("/") else src / dest
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, target)
    assert not list(src.rglob("*.so"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "--wheel-dir", str(tmp_path / "wheels"), str(src)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (wheel,) = (tmp_path / "wheels").glob("breachindex-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for module in ("breachindex/_native", "breachindex/_fastcall"):
        assert any(n.startswith(module) and n.endswith(".so") for n in names), f"{module} is not in the wheel"
    assert "breachindex/server/static/index.html" in names
