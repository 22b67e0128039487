"""What a saved task keeps and never answers (tasks/task_secrets.py), in-process."""

from __future__ import annotations

import pytest

from dockyard.errors import Conflict, Invalid, NotFound
from dockyard.spec.codes import ErrorCode
from dockyard.storage.db.database import Database
from dockyard.tasks.policy import TaskPolicy
from dockyard.tasks.saved import SavedTasks
from dockyard.tasks.task_model import RegistryLogin, RunSecrets, TaskSpec

OWNER = "user:alice"
SPEC = TaskSpec(
    context="https://git.example.com/team/app.git#main",
    file="Dockerfile",
    timeout=600,
    secret_values={"api_key": "s3cret"},
    git_access_token="token-1",
)


@pytest.fixture
def saved(database: Database) -> SavedTasks:
    saved = SavedTasks(database, TaskPolicy(min_timeout_seconds=300))
    saved.definitions.create("cred-task", SPEC, OWNER)
    return saved


def test_credentials_are_answered_without_their_password(saved: SavedTasks) -> None:
    added = saved.secrets.add_credential("cred-task", " Other.Example.com ", "bob", "pw")
    assert added.login_server == "other.example.com"
    assert saved.secrets.credentials("cred-task") == [added]
    assert not hasattr(added, "password")
    with pytest.raises(Conflict) as taken:
        saved.secrets.add_credential("cred-task", "other.example.com", "eve", "pw2")
    assert taken.value.code is ErrorCode.CONFLICT
    with pytest.raises(Invalid, match="login server"):
        saved.secrets.add_credential("cred-task", "https://x/y", "bob", "pw")
    with pytest.raises(Invalid, match="username and a password"):
        saved.secrets.add_credential("cred-task", "x.example.com", "bob", "")
    saved.secrets.remove_credential("cred-task", "OTHER.example.com")
    assert saved.secrets.credentials("cred-task") == []
    with pytest.raises(NotFound, match=r"no credential for other\.example\.com"):
        saved.secrets.remove_credential("cred-task", "other.example.com")
    with pytest.raises(NotFound, match="task nope-task not found"):
        saved.secrets.credentials("nope-task")


def test_a_worker_reads_the_secrets_of_a_run(saved: SavedTasks) -> None:
    saved.secrets.add_credential("cred-task", "other.example.com", "bob", "pw")
    assert saved.secrets.run_secrets("cred-task") == RunSecrets(
        {"api_key": "s3cret"}, [RegistryLogin("other.example.com", "bob", "pw")]
    )
    assert saved.secrets.run_secrets("gone-task") == RunSecrets()


def test_the_git_token_goes_only_to_the_tasks_repository(saved: SavedTasks) -> None:
    token = saved.secrets.git_access_token
    assert token("cred-task", "https://GIT.example.com/team/app#dev") == "token-1"
    assert token("cred-task", "https://git.example.com/team/other.git#main") is None
    assert token("gone-task", "https://git.example.com/team/app.git") is None
