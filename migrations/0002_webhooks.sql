-- Outbound webhooks a project registered for its events (push now, deploy later).
CREATE TABLE mosaic.webhooks (
    id         uuid PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES mosaic.projects(id) ON DELETE CASCADE,
    url        text NOT NULL,
    secret     bytea NOT NULL,          -- HMAC key, AES-256-GCM sealed with the platform secret key
    events     text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_project_idx ON mosaic.webhooks (project_id);
