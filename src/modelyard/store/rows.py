"""Catalog tables (SQLAlchemy Core). Rows never leave `store/`: callers get specs.

Constraint names follow one naming convention so that Alembic migrations stay
portable between SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

models = Table(
    "models",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("domain", String(64), nullable=False),
    Column("name", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("domain", "name"),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("model_id", Integer, ForeignKey("models.id", ondelete="RESTRICT"), nullable=False),
    Column("version", String(32), nullable=False),
    Column("version_major", Integer, nullable=False),
    Column("version_minor", Integer, nullable=False),
    Column("version_patch", Integer, nullable=False),
    Column("framework", String(32), nullable=False),
    Column("model_type", String(64), nullable=False),
    Column("owner_team", String(64), nullable=False),
    # Newline-separated `domain/name<constraint>`: enough to build the version graph
    # without decoding every spec.
    Column("dependencies", Text, nullable=False),
    Column("spec_json", Text, nullable=False),
    Column("content_digest", String(64), nullable=False),
    Column("source", Text, nullable=True),
    Column("registered_at", DateTime(timezone=True), nullable=False),
    # The version folder number in Triton repositories: given once, never changed.
    Column("triton_version", Integer, nullable=False),
    # The Triton model name it compiles to: one model id per name, checked at registration.
    Column("triton_name", String(128), nullable=True),
    # Withdrawn (yanked) or discouraged (deprecated) versions: why and since when; both
    # None for an active version (catalog/lifecycle.py).
    Column("yanked_reason", Text, nullable=True),
    Column("yanked_at", DateTime(timezone=True), nullable=True),
    Column("deprecated_reason", Text, nullable=True),
    Column("deprecated_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint(
        "model_id",
        "version_major",
        "version_minor",
        "version_patch",
        name="uq_model_versions_model_version",
    ),
    UniqueConstraint("model_id", "triton_version", name="uq_model_versions_triton_version"),
)

aliases = Table(
    "aliases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("model_id", Integer, ForeignKey("models.id", ondelete="RESTRICT"), nullable=False),
    Column("name", String(64), nullable=False),
    Column(
        "version_id", Integer, ForeignKey("model_versions.id", ondelete="RESTRICT"), nullable=False
    ),
    Column("revision", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("model_id", "name", name="uq_aliases_model_name"),
)

Index("ix_model_versions_owner_team", model_versions.c.owner_team)
Index("ix_model_versions_triton_name", model_versions.c.triton_name)

deployments = Table(
    "deployments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("target", String(64), nullable=False),
    Column("actor", String(200), nullable=False),  # who asked
    Column("selection", String(200), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    # running | succeeded | failed (rolled back) | rollback_failed
    Column("outcome", String(32), nullable=False),
    Column("error", Text, nullable=True),
    Column("actions_json", Text, nullable=False),
    # The deployer process that held the target's lease (None before 0006).
    Column("holder", String(200), nullable=True),
    # The rollout's estimate when it started (JSON; None before 0009, or none was made).
    Column("estimate_json", Text, nullable=True),
)
Index("ix_deployments_target", deployments.c.target)

leases = Table(
    "leases",
    metadata,
    Column("target", String(64), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# Live measurements (perf runs, memory readings) per model version and target. The
# summary is JSON so that new figures need no migration; the columns are what queries
# filter on.
measurements = Table(
    "measurements",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("model_id", String(130), nullable=False),
    Column("version", String(32), nullable=False),
    Column("target", String(64), nullable=False),
    # perf | memory
    Column("kind", String(16), nullable=False),
    Column("measured_at", DateTime(timezone=True), nullable=False),
    Column("summary_json", Text, nullable=False),
)
Index(
    "ix_measurements_model_target",
    measurements.c.model_id,
    measurements.c.target,
    measurements.c.kind,
)

# API tokens: only a SHA-256 of the secret is stored; `prefix` identifies a token in
# listings and audit entries without revealing it.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", String(64), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("team", String(64), nullable=False),
    # viewer | maintainer | admin
    Column("role", String(16), nullable=False),
    Column("description", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    # None: never expires (0016).
    Column("expires_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("object", String(200), nullable=False),
    Column("before_json", Text, nullable=True),
    Column("after_json", Text, nullable=True),
)
Index("ix_audit_log_at", audit_log.c.at)

# Traffic experiments (A/B splits, canaries, blue-green switches) of one model on one
# target's gateway. `running_key` is `<target> <model_id>` while the experiment runs and
# NULL after: the unique constraint allows one running experiment per model and target
# (NULLs never collide, on SQLite as on PostgreSQL). `arms_json` lists [version, weight]
# in the order the arms' bucket ranges are laid out. `shadow_version` and `shadow_percent`
# (both NULL without one) name the version that gets copies of that share of requests.
experiments = Table(
    "experiments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("model_id", String(130), nullable=False),
    Column("target", String(64), nullable=False),
    # split | switch
    Column("kind", String(16), nullable=False),
    # running | stopped
    Column("state", String(16), nullable=False),
    Column("running_key", String(200), nullable=True),
    Column("arms_json", Text, nullable=False),
    Column("sticky_header", String(64), nullable=True),
    Column("kept", String(32), nullable=True),
    Column("actor", String(200), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("stopped_at", DateTime(timezone=True), nullable=True),
    Column("shadow_version", String(32), nullable=True),
    Column("shadow_percent", Integer, nullable=True),
    UniqueConstraint("running_key"),
)
Index("ix_experiments_target_model", experiments.c.target, experiments.c.model_id)

# A/B outcomes: one value per request id the gateway routed to an experiment's arm
# (`experiment feedback`); a second value for the same id replaces the first.
experiment_outcomes = Table(
    "experiment_outcomes",
    metadata,
    Column("request_id", String(128), primary_key=True),
    Column(
        "experiment_id",
        Integer,
        ForeignKey("experiments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("arm", String(32), nullable=False),
    Column("value", Float, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)
Index("ix_experiment_outcomes_experiment", experiment_outcomes.c.experiment_id)

# Each look at an experiment's outcomes (`experiment report` with more data than the last
# look): its information fraction, so the next look's boundary spends only what is left
# of alpha (traffic/statistics.py), and the candidates that crossed.
experiment_looks = Table(
    "experiment_looks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "experiment_id",
        Integer,
        ForeignKey("experiments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("look", Integer, nullable=False),
    Column("fraction", Float, nullable=False),
    Column("alpha", Float, nullable=False),
    Column("figures_json", Text, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("experiment_id", "look"),
)

# Deploy jobs started through the API (`modelyard server`): their progress and result
# outlive the server. `server` is `<host>:<pid>` of the server running it, so a restarted
# server on that host can tell a job whose process died (`interrupted`).
jobs = Table(
    "jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("target", String(64), nullable=False),
    Column("alias", String(64), nullable=True),
    Column("refs_json", Text, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("state", String(16), nullable=False),
    Column("server", String(200), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("models_json", Text, nullable=False),
    Column("progress_json", Text, nullable=False),
    Column("result_json", Text, nullable=True),
    Column("error_json", Text, nullable=True),
)
Index("ix_jobs_started_at", jobs.c.started_at)

# Webhooks added with `modelyard webhook add` (those of modelyard.yaml are read from it).
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("url", String(500), nullable=False),
    Column("secret_env", String(128), nullable=False),
    Column("events_json", Text, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("url"),
)

# Events written in the transaction of the change they announce (the outbox pattern);
# the server's delivery worker fans each out to the webhooks that want it.
webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("event", String(64), nullable=False),
    Column("payload_json", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("dispatched_at", DateTime(timezone=True), nullable=True),
)
Index("ix_webhook_events_dispatched_at", webhook_events.c.dispatched_at)

# One event to one webhook: pending until delivered or out of tries.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "event_id",
        Integer,
        ForeignKey("webhook_events.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("event", String(64), nullable=False),
    Column("url", String(500), nullable=False),
    Column("secret_env", String(128), nullable=False),
    # pending | delivered | failed
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
)
Index("ix_webhook_deliveries_state", webhook_deliveries.c.state)

# Every try of a delivery: the delivery log.
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "delivery_id",
        Integer,
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("attempt", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("status", Integer, nullable=True),
    Column("error", String(500), nullable=True),
    Column("duration_ms", Float, nullable=False),
)
Index("ix_webhook_attempts_delivery_id", webhook_attempts.c.delivery_id)

# Stepwise canary rollouts (`modelyard rollout REF --to VERSION`): one row per rollout,
# its state (running | succeeded | failed | aborted), the step it is at, and the
# heartbeat of the process driving it (a rollout whose driver died shows as interrupted).
canary_rollouts = Table(
    "canary_rollouts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("model_id", String(130), nullable=False),
    Column("target", String(64), nullable=False),
    Column("experiment_id", Integer, ForeignKey("experiments.id"), nullable=True),
    Column("baseline", String(32), nullable=False),
    Column("candidate", String(32), nullable=False),
    Column("steps_json", Text, nullable=False),
    Column("interval_s", Float, nullable=False),
    Column("settings_json", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("step", Integer, nullable=False),
    Column("weight", Integer, nullable=False),
    Column("reason", Text, nullable=True),
    Column("holder", String(200), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
)
Index("ix_canary_rollouts_target_model", canary_rollouts.c.target, canary_rollouts.c.model_id)

# Each event of a rollout: a weight set, an analysis (with its figures) and a decision.
canary_events = Table(
    "canary_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "rollout_id",
        Integer,
        ForeignKey("canary_rollouts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # weight | analysis | decision
    Column("kind", String(16), nullable=False),
    Column("step", Integer, nullable=False),
    Column("weight", Integer, nullable=False),
    Column("outcome", String(16), nullable=True),
    Column("reason", Text, nullable=True),
    Column("figures_json", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)
Index("ix_canary_events_rollout", canary_events.c.rollout_id)
