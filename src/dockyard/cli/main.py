"""`dockyard` command line: serve, gc, migrate, and the access-control commands
(cli/access/)."""

from __future__ import annotations

import errno
import ipaddress
import os
import shutil
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.table import Table

from dockyard import __version__, telemetry
from dockyard.cli import access, content, tasks
from dockyard.cli.output import err as console
from dockyard.cli.output import note, out

if TYPE_CHECKING:
    from dockyard.config import Settings

app = typer.Typer(help="Dockyard: a self-hosted container registry.", no_args_is_help=True)

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="YAML settings file")]
DataDirOption = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory [./dockyard-data]")
]
DbOption = Annotated[
    str | None, typer.Option("--db", help="Database URL (sqlite:///... or postgresql://...)")
]


def _settings(config: Path | None, **overrides: Any) -> Settings:
    # The server's settings (pydantic) are imported only by the commands that read them: the
    # others are HTTP clients, and every one of their runs would pay for the import.
    from dockyard.config import load_settings

    try:
        return load_settings(config, **overrides)
    except Exception as exc:
        console.print(f"[red]error:[/red] invalid settings: {exc}")
        raise typer.Exit(2) from exc


def _open_data_dir(settings: Settings) -> None:
    """Before the data folder is used: files this process (and its workers) create are
    private (umask 077), and the folder, its entries and the SQLite files are made private
    when they are not (saying so), or the command stops when that is refused."""
    from dockyard.storage.datadir import DataDirUnsafe, make_private, sqlite_files

    os.umask(0o077)
    try:
        fixed = make_private(settings.data_dir, sqlite_files(settings.database_url))
    except DataDirUnsafe as exc:
        note(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    for change in fixed:
        note(f"[yellow]warning:[/yellow] {change}")
    key = settings.server.tls_key
    if key is not None and key.exists() and key.stat().st_mode & 0o077:
        note(
            f"[yellow]warning:[/yellow] the TLS private key {key} is open to other users "
            f"(mode {key.stat().st_mode & 0o777:04o}); chmod go-rwx it"
        )


def _require_data_dir(settings: Settings, folder_needed: bool = True) -> None:
    """gc, check, migrate and worker work on what `serve` made: run where there is none, they
    would create an empty folder and database (or fail deep inside one), so they stop and say
    where they looked. `folder_needed` is false for migrate, which only needs the database
    (a database server named by --db is always there to migrate)."""
    from dockyard.storage.datadir import sqlite_files

    folder = settings.data_dir.resolve()
    database = next(iter(sqlite_files(settings.database_url)), None)
    in_folder = database is not None and database.parent.resolve() == folder
    if (folder_needed or in_folder) and not folder.is_dir():
        _stop(f"no Dockyard data folder at {folder}", "--data-dir / set DOCKYARD_DATA_DIR")
    if database is None or database.is_file():
        return
    if in_folder:
        _stop(
            f"no Dockyard data folder at {folder} (it holds no {database.name})",
            "--data-dir / set DOCKYARD_DATA_DIR",
        )
    _stop(f"no Dockyard database at {database}", "--db / set DOCKYARD_DB")


def _require_database(settings: Settings) -> None:
    from rich.markup import escape

    from dockyard.storage.db.database import printable_url, unreachable_reason

    reason = unreachable_reason(settings.database_url)
    if reason is None:
        return
    console.print(
        f"[red]error:[/red] cannot reach the database at "
        f"{escape(printable_url(settings.database_url))}: {escape(reason)}; start it or "
        "check its address and credentials, then pass --db / set DOCKYARD_DB"
    )
    raise typer.Exit(2)


def _stop(problem: str, how_to_point: str) -> NoReturn:
    console.print(
        f"[red]error:[/red] {problem}: run `dockyard serve` first, or pass {how_to_point}"
    )
    raise typer.Exit(2)


def _refuse_port_in_use(host: str, port: int) -> None:
    """Granian's workers listen with SO_REUSEPORT, which lets a second server bind a port
    already served and silently take a share of its connections. A bind without it (with
    SO_REUSEADDR, as servers do, so connections closing from a previous run do not count)
    fails when anything listens there."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        console.print(f"[red]error:[/red] cannot listen on {host}: {exc.strerror}")
        raise typer.Exit(2) from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                message = f"port {port} on {host} is already in use (another dockyard serve?)"
            else:
                message = f"cannot listen on port {port} on {host}: {exc.strerror}"
            console.print(f"[red]error:[/red] {message}")
            raise typer.Exit(2) from None


def is_loopback_host(host: str) -> bool:
    """Whether listening on `host` keeps the server to this machine: localhost or a
    loopback address (every-address forms such as 0.0.0.0 and :: are not)."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.split("%", 1)[0]).is_loopback
    except ValueError:
        return False  # another name: it may resolve to any interface


def _refuse_open_no_auth(settings: Settings) -> None:
    """A server without credentials serves everyone who reaches it: only on loopback,
    unless the operator says, in so many words, that the network is trusted."""
    if settings.auth.enabled or is_loopback_host(settings.server.host):
        return
    if not settings.server.insecure_no_auth_on_network:
        console.print(
            f"[bold red]error: refusing to serve WITHOUT AUTHENTICATION on {settings.server.host}, "
            "which is not a loopback address.[/bold red] Anyone who reaches it could read, "
            "push and delete every image and change every setting. Listen on 127.0.0.1 (the "
            "default), or require credentials (leave out --no-auth), or, only on a network "
            "you trust, add --insecure-no-auth-on-network "
            "(DOCKYARD_INSECURE_NO_AUTH_ON_NETWORK=true)."
        )
        raise typer.Exit(2)
    console.print(
        f"[bold red]WARNING: serving WITHOUT AUTHENTICATION on {settings.server.host} "
        "(insecure_no_auth_on_network): anyone who reaches this address can read, push and "
        "delete every image and change every setting.[/bold red]"
    )


def _export(settings: Settings) -> None:
    """Hand every setting to the server's worker processes through the environment."""
    os.environ.update(settings.environment())
    os.environ.pop("DOCKYARD_CONFIG", None)


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on [127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [5000]")] = None,
    data_dir: DataDirOption = None,
    db: DbOption = None,
    workers: Annotated[int | None, typer.Option(help="Server worker processes [1]")] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="TLS certificate (PEM)")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="TLS private key (PEM)")] = None,
    log_format: Annotated[str | None, typer.Option(help="human or json")] = None,
    auth: Annotated[
        bool | None, typer.Option("--auth/--no-auth", help="Require credentials [on]")
    ] = None,
    insecure_no_auth_on_network: Annotated[
        bool | None,
        typer.Option(
            "--insecure-no-auth-on-network",
            help="Let --no-auth listen on an address other than loopback (anyone who "
            "reaches it can do anything)",
        ),
    ] = None,
    allow_sparse_manifests: Annotated[
        bool | None,
        typer.Option(
            "--allow-sparse-manifests",
            "--allow-sparse-index",
            help="Accept manifests whose layers or child manifests are absent (mirrors of "
            "partial content) [off]",
        ),
    ] = None,
) -> None:
    """Run the registry server."""
    from granian import Granian
    from granian.constants import Interfaces

    from dockyard.storage.db.migrate import upgrade

    settings = _settings(
        config,
        host=host,
        port=port,
        data_dir=data_dir,
        db=db,
        workers=workers,
        tls_cert=tls_cert,
        tls_key=tls_key,
        log_format=log_format,
        auth_enabled=auth,
        insecure_no_auth_on_network=insecure_no_auth_on_network,
        allow_sparse_manifests=allow_sparse_manifests,
    )
    if (settings.server.tls_cert is None) != (settings.server.tls_key is None):
        console.print("[red]error:[/red] --tls-cert and --tls-key go together")
        raise typer.Exit(2)
    _refuse_open_no_auth(settings)
    _refuse_port_in_use(settings.server.host, settings.server.port)
    _open_data_dir(settings)
    _require_database(settings)
    # Before anything imports prometheus_client (creating the first owner imports the app):
    # it picks in-memory or multiprocess values once, at import, from this variable.
    metrics_dir = settings.data_dir / "run" / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    telemetry.preallocate_process_files()  # this process writes some too (creating the owner)
    upgrade(settings.database_url)
    if settings.auth.enabled:
        _bootstrap_owner(settings)
    settings.storage.data_dir = settings.data_dir.resolve()
    _export(settings)
    # Granian forks its workers from this process: importing the application here (about two
    # seconds of CPU) lets every worker, and every respawned one, inherit it instead of
    # importing it again.
    from dockyard.app import import_served_api

    import_served_api()

    scheme = "https" if settings.server.tls_cert else "http"
    console.print(
        f"Dockyard {__version__} on {scheme}://{settings.server.host}:{settings.server.port} "
        f"({settings.server.workers} worker(s), data in {settings.data_dir.resolve()})"
    )
    server = Granian(
        "dockyard.app:create_app_from_env",
        factory=True,
        address=settings.server.host,
        port=settings.server.port,
        interface=Interfaces.ASGI,
        workers=settings.server.workers,
        ssl_cert=settings.server.tls_cert,
        ssl_key=settings.server.tls_key,
        log_access=False,
        respawn_failed_workers=True,
    )
    server.serve()


def _bootstrap_owner(settings: Settings) -> None:
    from dockyard.compose import build_auth, build_storage

    db, _driver = build_storage(settings)
    try:
        password = build_auth(settings, db).access.first_start.create_owner()
    finally:
        db.dispose()
    if password is None:
        return
    secret = settings.data_dir / "initial-owner-password"
    secret.touch(mode=0o600)
    secret.write_text(password + "\n")
    console.print(
        f"[bold]First start:[/bold] user [bold]owner[/bold] has the Owner role; "
        f"its password is in {secret.resolve()} (read it, then delete the file)"
    )


@app.command()
def migrate(
    config: ConfigOption = None, data_dir: DataDirOption = None, db: DbOption = None
) -> None:
    """Bring the database schema up to date."""
    from dockyard.storage.db.migrate import upgrade

    settings = _settings(config, data_dir=data_dir, db=db)
    _require_data_dir(settings, folder_needed=False)
    _require_database(settings)
    if settings.data_dir.is_dir():
        _open_data_dir(settings)
    else:
        os.umask(0o077)  # a database server only: no folder to create here
    upgrade(settings.database_url)
    console.print("database schema is up to date")


@app.command()
def gc(
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    db: DbOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show what would be removed")
    ] = False,
    grace_seconds: Annotated[
        float | None, typer.Option(help="Keep unreferenced content younger than this")
    ] = None,
    delete_untagged: Annotated[
        bool | None, typer.Option(help="Also remove untagged, unreferenced manifests")
    ] = None,
) -> None:
    """Remove unreferenced blobs, abandoned uploads and crash leftovers."""
    from dockyard.compose import build_registry, build_storage
    from dockyard.storage.db.migrate import upgrade

    settings = _settings(
        config,
        data_dir=data_dir,
        db=db,
        gc_grace_seconds=grace_seconds,
        gc_delete_untagged=delete_untagged,
    )
    _require_data_dir(settings)
    _require_database(settings)
    _open_data_dir(settings)
    upgrade(settings.database_url)
    registry = build_registry(settings, *build_storage(settings))
    with console.status("collecting garbage..."):
        report = registry.gc.run(dry_run=dry_run)
    table = Table(title="garbage collection" + (" (dry run)" if dry_run else ""))
    table.add_column("kind")
    table.add_column("what")
    table.add_column("bytes", justify="right")
    for digest, size in report.blobs:
        table.add_row("blob", digest, str(size))
    for repo_id, digest in report.manifests:
        table.add_row("manifest", f"repository #{repo_id} {digest}", "")
    for upload_id in report.uploads:
        table.add_row("upload", upload_id, "")
    for key, size in report.orphan_files:
        table.add_row("orphan file", key, str(size))
    if table.row_count:
        out.print(table)
    verb = "would free" if dry_run else "freed"
    out.print(
        f"{len(report.blobs)} blobs, {len(report.manifests)} manifests, "
        f"{len(report.uploads)} uploads, "
        f"{len(report.orphan_files)} orphan files; {verb} {report.bytes_freed} bytes"
    )
    registry.db.dispose()


@app.command()
def check(config: ConfigOption = None, data_dir: DataDirOption = None, db: DbOption = None) -> None:
    """Check that metadata and stored bytes agree; exits 1 when they do not."""
    from dockyard.compose import build_registry, build_storage

    settings = _settings(config, data_dir=data_dir, db=db)
    _require_data_dir(settings)
    _require_database(settings)
    _open_data_dir(settings)
    registry = build_registry(settings, *build_storage(settings))
    with console.status("checking metadata against storage..."):
        problems = registry.integrity.run()
    registry.db.dispose()
    if not problems:
        out.print("no problems found")
        return
    table = Table(title=f"{len(problems)} problem(s)")
    for column in ("kind", "subject", "detail"):
        table.add_column(column)
    for problem in problems:
        table.add_row(problem.kind, problem.subject, problem.detail)
    out.print(table)
    raise typer.Exit(1)


def _job_names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


@app.command()
def worker(
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    db: DbOption = None,
    jobs: Annotated[
        str | None,
        typer.Option(
            "--jobs",
            help="Jobs to run, comma-separated (gc,webhooks,cleanup,timers,runs,...); "
            "`list` shows them [every job the settings enable]",
        ),
    ] = None,
    list_jobs: Annotated[
        bool, typer.Option("--list-jobs", help="Show the jobs and their settings, then exit")
    ] = False,
    registry_url: Annotated[
        str | None,
        typer.Option(help="How builds reach the registry [the configured serve address]"),
    ] = None,
    engine: Annotated[
        list[str] | None, typer.Option("--engine", help="A build engine: buildah, docker")
    ] = None,
) -> None:
    """Run background jobs (garbage collection, webhooks, cleanup, task timers and triggers,
    task runs, ...) from the configured database and storage, without serving: to move
    background work off the serving machines, or for extra build machines (`--jobs runs`).
    Every job takes its lease, so it runs in one process at a time wherever it is run."""
    import signal
    import threading

    from dockyard.app import configure_logging
    from dockyard.compose import build_services, task_registry_url
    from dockyard.jobs.catalog import UnknownJobs, select_jobs
    from dockyard.jobs.runtime import Scheduler
    from dockyard.jobs.task_worker import worker_id
    from dockyard.storage.db.migrate import upgrade

    settings = _settings(
        config,
        data_dir=data_dir,
        db=db,
        task_registry_url=registry_url,
        task_engines=engine or None,
        tasks_enabled=True,
    )
    configure_logging(settings)
    _require_data_dir(settings)
    _require_database(settings)
    _open_data_dir(settings)
    upgrade(settings.database_url)
    worker_name = worker_id()
    services = build_services(settings, claim_runs=True, worker_name=worker_name)
    every_job = services.jobs
    if list_jobs or jobs == "list":
        table = Table(title="jobs (`dockyard worker --jobs a,b`; without it: the enabled ones)")
        for column in ("name", "every", "lease", "enabled", "what"):
            table.add_column(column)
        for job in every_job:
            lease = job.lease
            table.add_row(
                job.name,
                f"{job.interval_seconds:g} s",
                "-" if lease is None else f"{lease.name} ({lease.seconds:g} s)",
                "yes" if job.enabled else "no",
                job.description,
            )
        out.print(table)
        services.close()
        return
    try:
        chosen = select_jobs(every_job, None if jobs is None else _job_names(jobs))
    except UnknownJobs as exc:
        console.print(f"[red]error:[/red] {exc}; `dockyard worker --list-jobs` shows them")
        services.close()
        raise typer.Exit(2) from None
    if not chosen:
        console.print("[red]error:[/red] no job to run")
        services.close()
        raise typer.Exit(2)
    scheduler = Scheduler(services.db, chosen, holder=worker_name)
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    names = [job.name for job in chosen]
    console.print(f"Dockyard {__version__} worker {worker_name}: {', '.join(names)}")
    if "runs" in names:
        console.print(
            f"task worker {worker_name} ({', '.join(settings.tasks.engines)}) pushing to "
            f"{task_registry_url(settings)}"
        )
    scheduler.start()
    stopping.wait()
    console.print("stopping" + (": a run in progress ends Error" if "runs" in names else ""))
    scheduler.stop()
    services.close()


@app.command()
def version() -> None:
    """Print the version."""
    print(__version__)


access.register(app)
content.register(app)
tasks.register(app)


def main() -> None:
    app()
