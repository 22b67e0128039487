"""Tables of registry metadata. The same schema runs on SQLite and PostgreSQL; Alembic
migrations under storage/migrations create it."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    true,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

DIGEST = String(160)  # "sha512:" + 128 hex digits


def _lock_columns() -> list[Column[bool]]:
    """ACR's changeable attributes: what may be done to a repository, tag or manifest."""
    return [
        Column(name, Boolean, nullable=False, server_default=true())
        for name in ("delete_enabled", "write_enabled", "read_enabled", "list_enabled")
    ]


repositories = Table(
    "repositories",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float),  # the last push, tag change or delete in it
    *_lock_columns(),
    # Tags once written may not be moved or deleted (write-once), for this repository.
    Column("tag_immutability", Boolean, nullable=False, server_default=false()),
)

# One row per blob whose bytes are committed to storage (content-addressed, shared by repos).
blobs = Table(
    "blobs",
    metadata,
    Column("digest", DIGEST, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
)

# A blob is visible in a repository only through a link; `touched_at` protects it from GC.
repository_blobs = Table(
    "repository_blobs",
    metadata,
    Column(
        "repository_id",
        Integer,
        ForeignKey("repositories.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("digest", DIGEST, ForeignKey("blobs.digest", ondelete="CASCADE"), primary_key=True),
    Column("touched_at", Float, nullable=False),
    Index("ix_repository_blobs_digest", "digest"),
)

manifests = Table(
    "manifests",
    metadata,
    Column(
        "repository_id",
        Integer,
        ForeignKey("repositories.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("digest", DIGEST, primary_key=True),
    Column("media_type", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("artifact_type", String(255)),
    Column("subject_digest", DIGEST),
    Column("annotations", Text),  # JSON, for the referrers API
    Column("created_at", Float, nullable=False),
    # From the image config, for ACR's manifest attributes; None for other artifacts.
    Column("architecture", String(64)),
    Column("os", String(64)),
    *_lock_columns(),
    Column("quarantine_state", String(16)),  # None, "quarantined" or "passed"
    # When the last tag left it (None while tagged or never tagged), for the retention policy.
    Column("untagged_at", Float),
    Index("ix_manifests_subject", "repository_id", "subject_digest"),
)

# The blobs (config, layers) a manifest needs, for GC and usage.
manifest_blobs = Table(
    "manifest_blobs",
    metadata,
    Column("repository_id", Integer, primary_key=True),
    Column("manifest_digest", DIGEST, primary_key=True),
    Column("blob_digest", DIGEST, primary_key=True),
    Index("ix_manifest_blobs_blob", "blob_digest"),
)

# The manifests an index lists.
manifest_children = Table(
    "manifest_children",
    metadata,
    Column("repository_id", Integer, primary_key=True),
    Column("manifest_digest", DIGEST, primary_key=True),
    Column("child_digest", DIGEST, primary_key=True),
    Index("ix_manifest_children_child", "repository_id", "child_digest"),
)

tags = Table(
    "tags",
    metadata,
    Column(
        "repository_id",
        Integer,
        ForeignKey("repositories.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("name", String(128), primary_key=True),
    Column("manifest_digest", DIGEST, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("created_at", Float),
    *_lock_columns(),
    Index("ix_tags_manifest", "repository_id", "manifest_digest"),
)

upload_sessions = Table(
    "upload_sessions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("repository", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # The request writing to the session holds it until `lease_until`, so that two requests
    # never write the same session's bytes at once.
    Column("writer", String(32)),
    Column("lease_until", Float),
)

# Named leases so that one process among many runs a periodic job.
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(64), nullable=False),
    Column("expires_at", Float, nullable=False),
)


# --- access control ---------------------------------------------------------------------------

users = Table(
    "users",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("kind", String(32), nullable=False),  # user | service-principal
    Column("enabled", Boolean, nullable=False),
    Column("created_at", Float, nullable=False),
    # Bumped by every password reset and disable: tokens issued before stop working.
    Column("credential_generation", Integer, nullable=False, server_default="0"),
)

# Password hashes of every principal: "user:<name>" (slot 1), "token:<name>" and "admin"
# (slots 1 and 2, each regenerable on its own).
credentials = Table(
    "credentials",
    metadata,
    Column("principal", String(160), primary_key=True),
    Column("slot", Integer, primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("expires_at", Float),
    Column("created_at", Float, nullable=False),
)

role_assignments = Table(
    "role_assignments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("principal", String(128), nullable=False),
    Column("role", String(32), nullable=False),
    Column("scope", String(300), nullable=False),  # "*" (registry) or a repository pattern
    Column("created_at", Float, nullable=False),
    UniqueConstraint("principal", "role", "scope"),
)

scope_maps = Table(
    "scope_maps",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("description", Text, nullable=False),
    Column("actions", Text, nullable=False),  # JSON list of repositories/<name>/<action>
    Column("created_at", Float, nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("scope_map", String(64), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", Float, nullable=False),
    # Bumped by every password regeneration and disable: tokens issued before stop working.
    Column("credential_generation", Integer, nullable=False, server_default="0"),
)

registry_settings = Table(
    "registry_settings",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# Network rules: the IP addresses and CIDR ranges allowed in when the default action (a
# registry_settings row) is Deny. The `network_rules_generation` setting changes with them.
network_rules = Table(
    "network_rules",
    metadata,
    Column("ip_range", String(64), primary_key=True),  # canonical: 10.0.0.0/24, 2001:db8::/48
    Column("created_at", Float, nullable=False),
)

# Token-signing keys; retired keys still verify tokens until those expire.
signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("private_pem", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("retired_at", Float),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_start", Float, nullable=False),
)


# --- events -----------------------------------------------------------------------------------

# The outbox: every change that others may need to hear about, written in the transaction of
# the change itself. `seq` orders them; consumers (webhooks, replication, triggers) keep their
# own position in it.
events = Table(
    "events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("action", String(32), nullable=False),
    Column("repository", String(255), nullable=False),
    Column("tag", String(128)),
    Column("payload", Text, nullable=False),  # the event in ACR's webhook shape (JSON)
)


# --- webhooks ---------------------------------------------------------------------------------

webhooks = Table(
    "webhooks",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("uri", Text, nullable=False),
    Column("actions", Text, nullable=False),  # JSON list of event actions
    Column("scope", String(300), nullable=False),  # '' (everything), repo, repo:tag, repo:*
    Column("headers", Text, nullable=False),  # JSON object of custom headers
    Column("status", String(16), nullable=False),  # enabled | disabled
    Column("secret", String(128), nullable=False),  # HMAC-SHA256 key of the signature
    Column("created_at", Float, nullable=False),
)

# One row per (webhook, event) to send; pending rows survive restarts (at-least-once).
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("webhook", String(50), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("event_seq", Integer, nullable=False),  # 0 for pings
    Column("repository", String(255), nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | dead
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Float, nullable=False),
    Column("event_created_at", Float, nullable=False),
    Column("request_headers", Text),  # JSON
    Column("request_body", Text, nullable=False),
    Column("response_status", Integer),
    Column("response_headers", Text),  # JSON
    Column("response_excerpt", Text),  # the first 2 KiB
    Column("duration_ms", Integer),
    Column("last_error", Text),
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_order", "webhook", "repository", "status", "event_seq"),
)

# How far each consumer of the events outbox (dockyard.events.Consumer) has read it.
event_cursors = Table(
    "event_cursors",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("seq", Integer, nullable=False),
)


# --- cleanup ----------------------------------------------------------------------------------

# Soft delete: deleted manifests and tags kept, restorable, until `expires_at`.
recycle_bin = Table(
    "recycle_bin",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repository", String(255), nullable=False),
    Column("kind", String(16), nullable=False),  # manifest | tag
    Column("digest", DIGEST, nullable=False),
    Column("tag", String(128)),  # the tag, for kind=tag
    Column("media_type", String(255)),
    Column("content", LargeBinary),  # the manifest, for kind=manifest
    Column("tags", Text),  # JSON list of the tags that pointed at a deleted manifest
    Column("deleted_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_recycle_bin_repository", "repository", "digest"),
    Index("ix_recycle_bin_expires", "expires_at"),
)

# The blobs a soft-deleted manifest needs; garbage collection keeps them.
recycle_bin_blobs = Table(
    "recycle_bin_blobs",
    metadata,
    Column("entry_id", Integer, ForeignKey("recycle_bin.id", ondelete="CASCADE"), primary_key=True),
    Column("blob_digest", DIGEST, primary_key=True),
    Index("ix_recycle_bin_blobs_blob", "blob_digest"),
)


# --- service tiers ----------------------------------------------------------------------------

# Token buckets of the request-rate limits, shared by every server process.
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# Bytes stored (blobs plus manifests) in one row (id 1), kept by database triggers on `blobs`
# and `manifests` (migration 0006), so that the storage limit is checked without summing.
storage_usage = Table(
    "storage_usage",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("bytes", BigInteger, nullable=False),
)


# --- tasks ------------------------------------------------------------------------------------

# One row per run of a quick build or command. Workers claim Queued rows (`worker`,
# `lease_until`) and renew the lease while they work; a run whose lease runs out is ended.
task_runs = Table(
    "task_runs",
    metadata,
    Column("run_id", String(16), primary_key=True),  # prefix + `seq`, e.g. ca12
    Column("seq", BigInteger, nullable=False, unique=True),  # creation order
    Column("kind", String(8), nullable=False),  # build | cmd
    Column("status", String(16), nullable=False),
    Column("trigger", String(16), nullable=False),  # manual | commit | base_image | timer
    Column("request", Text, nullable=False),  # JSON: what to build or run
    Column("requester", String(160), nullable=False),  # principal id; the push credential's
    Column("engine", String(32), nullable=False),
    Column("platform", String(64)),
    Column("worker", String(128)),
    Column("lease_until", Float),
    Column("cancel_requested", Boolean, nullable=False, server_default=false()),
    Column("timeout", Integer, nullable=False),  # seconds
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("output_images", Text),  # JSON list of {repository, tag, digest}
    Column("base_images", Text),  # JSON list of {stage, name, image, runtime, digest}
    Column("error", Text),
    Column("log_size", BigInteger, nullable=False, server_default="0"),  # bytes of log so far
    Column("task_name", String(50)),  # the saved task it is a run of (no key: runs outlive it)
    Column("trigger_detail", String(300)),  # the timer's name, the commit, the base image
    Column("steps", Text),  # JSON list of the steps of a multi-step run, as they went
    Index("ix_task_runs_status", "status", "seq"),
    Index("ix_task_runs_task_name", "task_name", "seq"),
)

# The log of a run in chunks; `start` is the chunk's byte offset in the whole log.
task_run_logs = Table(
    "task_run_logs",
    metadata,
    Column(
        "run_id", String(16), ForeignKey("task_runs.run_id", ondelete="CASCADE"), primary_key=True
    ),
    Column("seq", Integer, primary_key=True),
    Column("start", BigInteger, nullable=False),
    Column("text", Text, nullable=False),
)

# Counters handing out run ids (name "runs").
task_counters = Table(
    "task_counters",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

# Uploaded build contexts (tar or tar.gz), stored content-addressed by the blob driver.
task_sources = Table(
    "task_sources",
    metadata,
    Column("digest", DIGEST, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("used_at", Float, nullable=False),  # last upload or run that named it
)

# Saved tasks: what to build or run, and how it is triggered. Secrets (`secret_values`,
# `git_access_token`, `webhook_secret`) are never answered by the API; the webhook secret only
# by its own route, to those who may change the task.
tasks = Table(
    "tasks",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("context", Text, nullable=False),  # a git or tarball URL, or "/" for none
    Column("file", String(1024)),  # Dockerfile (or task file) in the context
    Column("cmd", Text),  # '<image> <args...>' of a command task
    Column("images", Text, nullable=False),  # JSON list of repository[:tag]
    Column("task_values", Text, nullable=False),  # JSON {name: value}
    Column("secret_values", Text, nullable=False),  # JSON {name: value}
    Column("timeout", Integer, nullable=False),  # seconds
    Column("platform", String(64)),
    Column("engine", String(32)),  # the server's default when null
    Column("status", String(16), nullable=False),  # Enabled | Disabled
    Column("commit_trigger_enabled", Boolean, nullable=False, server_default=false()),
    Column("base_image_trigger_enabled", Boolean, nullable=False, server_default=false()),
    Column("base_image_trigger_type", String(16), nullable=False, server_default="Runtime"),
    Column("git_access_token", Text),
    # The commit trigger: the branch head last seen (by the push webhook or the poller; the
    # head when the trigger was switched on is the baseline) and the push webhook's secret.
    Column("last_commit", String(64)),
    Column("webhook_secret", Text),
    # Why the last trigger (timer, commit, base image) could not start a run, and when;
    # cleared when a trigger starts one.
    Column("last_trigger_error", Text),
    Column("last_trigger_error_at", Float),
    Column("owner", String(160), nullable=False),  # principal id; triggered runs run as it
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# Named cron timers of a task (5 fields, UTC). `next_due` is the next slot after the last
# firing (or after creation); a worker fires a timer whose `next_due` has passed once, then
# moves `next_due` past now, so that slots missed while no worker ran fire once.
task_timers = Table(
    "task_timers",
    metadata,
    Column("task", String(50), ForeignKey("tasks.name", ondelete="CASCADE"), primary_key=True),
    Column("name", String(50), primary_key=True),
    Column("schedule", String(200), nullable=False),
    Column("enabled", Boolean, nullable=False, server_default=true()),
    Column("created_at", Float, nullable=False),
    Column("last_fired_at", Float),
    Column("last_run_id", String(16)),
    Column("next_due", Float, nullable=False),
    Index("ix_task_timers_next_due", "enabled", "next_due"),
)

# Credentials of other registries a task's runs may log in to (passwords never answered).
task_credentials = Table(
    "task_credentials",
    metadata,
    Column("task", String(50), ForeignKey("tasks.name", ondelete="CASCADE"), primary_key=True),
    Column("login_server", String(255), primary_key=True),
    Column("username", Text, nullable=False),
    Column("password", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

# A run's own identity for this registry (`run:<run id>`): the repositories and actions its
# credential opens (already cut down to the requester's rights when the run began), and the
# generation its tokens carry. It is valid only while the run is Started or Running.
task_run_identities = Table(
    "task_run_identities",
    metadata,
    Column(
        "run_id", String(16), ForeignKey("task_runs.run_id", ondelete="CASCADE"), primary_key=True
    ),
    Column("requester", String(160), nullable=False),
    Column("grants", Text, nullable=False),  # JSON list of {pattern, actions}
    Column("generation", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
)
