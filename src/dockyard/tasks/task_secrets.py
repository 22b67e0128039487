"""What a saved task keeps that no answer carries: its logins to other registries
(`task_credentials`), its secret values and its git access token. Owners add and remove
logins (answered without the password); a worker doing a run of the task reads them as it
needs them, so that they are never part of the run's request."""

from __future__ import annotations

import json
import time

from sqlalchemy import delete, select

from dockyard.errors import Conflict, Invalid, NotFound
from dockyard.storage.db.database import Database, insert_ignore
from dockyard.storage.db.schema import task_credentials, tasks
from dockyard.tasks.fetch import parse_context_url
from dockyard.tasks.task_model import NO_CONTEXT, Credential, RegistryLogin, RunSecrets
from dockyard.tasks.task_rows import existing_task, locked_task
from dockyard.tasks.task_spec import same_repository


def login_server(text: str) -> str:
    """A login server as stored: host[:port], lowercase."""
    return text.strip().lower()


class TaskSecrets:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- owners ----------------------------------------------------------------------------

    def credentials(self, task: str) -> list[Credential]:
        """The task's logins to other registries, without their passwords."""
        with self._db.read() as conn:
            existing_task(conn, task)
            rows = conn.execute(
                select(
                    task_credentials.c.task,
                    task_credentials.c.login_server,
                    task_credentials.c.username,
                    task_credentials.c.created_at,
                )
                .where(task_credentials.c.task == task)
                .order_by(task_credentials.c.login_server)
            )
            return [Credential(str(r[0]), str(r[1]), str(r[2]), float(r[3])) for r in rows]

    def add_credential(self, task: str, server: str, username: str, password: str) -> Credential:
        stored = login_server(server)
        if not stored or "/" in stored or " " in stored:
            raise Invalid(f"login server {server!r}: a host[:port], e.g. myregistry.io")
        if not username or not password:
            raise Invalid("a credential needs a username and a password")
        now = time.time()
        with self._db.write() as conn:
            locked_task(conn, task)
            row = {
                "task": task,
                "login_server": stored,
                "username": username,
                "password": password,
                "created_at": now,
            }
            if not insert_ignore(conn, task_credentials, row):
                raise Conflict(f"task {task} already has a credential for {stored}")
        return Credential(task, stored, username, now)

    def remove_credential(self, task: str, server: str) -> None:
        with self._db.write() as conn:
            gone = conn.execute(
                delete(task_credentials).where(
                    task_credentials.c.task == task,
                    task_credentials.c.login_server == login_server(server),
                )
            ).rowcount
        if not gone:
            raise NotFound(f"task {task} has no credential for {server}")

    # --- workers ---------------------------------------------------------------------------

    def logins(self, task: str) -> list[RegistryLogin]:
        """The task's logins to other registries, passwords included; none when it is gone."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(
                    task_credentials.c.login_server,
                    task_credentials.c.username,
                    task_credentials.c.password,
                ).where(task_credentials.c.task == task)
            ).all()
        return [RegistryLogin(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    def run_secrets(self, task: str) -> RunSecrets:
        """For a worker doing a run of the task: its secret values and its logins; none when
        the task is gone."""
        with self._db.read() as conn:
            row = conn.execute(select(tasks.c.secret_values).where(tasks.c.name == task)).first()
        values = json.loads(row[0]) if row is not None else {}
        return RunSecrets(dict(values), self.logins(task))

    def git_access_token(self, task: str, context_url: str) -> str | None:
        """For a worker cloning a run's git context: the task's access token, only while the
        task's context is still that repository."""
        with self._db.read() as conn:
            row = conn.execute(
                select(tasks.c.context, tasks.c.git_access_token).where(tasks.c.name == task)
            ).first()
        if row is None or row[1] is None or row[0] == NO_CONTEXT:
            return None
        ours, theirs = parse_context_url(str(row[0])), parse_context_url(context_url)
        return str(row[1]) if same_repository(ours.url, theirs.url) else None
