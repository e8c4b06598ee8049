-- Deployment history: one row per deployment of a project's app.
CREATE TABLE mosaic.deployments (
    id             uuid PRIMARY KEY,
    project_id     uuid NOT NULL REFERENCES mosaic.projects(id) ON DELETE CASCADE,
    trigger        text NOT NULL,                 -- manual, git_push, file_push
    branch         text NOT NULL DEFAULT '',
    commit_sha     text NOT NULL DEFAULT '',
    commit_message text NOT NULL DEFAULT '',
    stack          text NOT NULL DEFAULT '',
    status         text NOT NULL,                 -- pending, building, running, failed, stopped, inactive, superseded
    error          text NOT NULL DEFAULT '',
    build_log      text NOT NULL DEFAULT '',      -- the tail of the build output, once finished
    created_at     timestamptz NOT NULL,
    started_at     timestamptz,
    finished_at    timestamptz,
    duration_ms    bigint NOT NULL DEFAULT 0
);
CREATE INDEX deployments_project_idx ON mosaic.deployments (project_id, created_at DESC);
CREATE INDEX deployments_unfinished_idx ON mosaic.deployments (status) WHERE status IN ('pending', 'building');
