-- Control plane: accounts, API keys, projects, tickets, per-project settings.
CREATE TABLE mosaic.accounts (
    id         uuid PRIMARY KEY,
    email      text NOT NULL UNIQUE,
    name       text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE mosaic.api_keys (
    id           uuid PRIMARY KEY,
    account_id   uuid NOT NULL REFERENCES mosaic.accounts(id) ON DELETE CASCADE,
    prefix       text NOT NULL,          -- shown to people: "mk_" and the next 8 characters
    hash         bytea NOT NULL UNIQUE,  -- SHA-256 of the whole key; the key itself is never stored
    name         text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    last_used_at timestamptz,
    replaced_by  uuid REFERENCES mosaic.api_keys(id) ON DELETE SET NULL
);
CREATE INDEX api_keys_account_idx ON mosaic.api_keys (account_id);

CREATE TABLE mosaic.projects (
    id                 uuid PRIMARY KEY,
    account_id         uuid NOT NULL REFERENCES mosaic.accounts(id) ON DELETE RESTRICT,
    name               text NOT NULL,
    slug               text NOT NULL UNIQUE,
    plan               text NOT NULL,
    status             text NOT NULL,    -- provisioning, active, deleting
    db_server          text NOT NULL DEFAULT '',
    db_name            text NOT NULL UNIQUE,
    db_user            text NOT NULL,
    db_host            text NOT NULL DEFAULT '',
    db_port            integer NOT NULL DEFAULT 0,
    db_password        bytea,            -- AES-256-GCM sealed with the platform secret key
    extensions         text[] NOT NULL DEFAULT '{}',
    missing_extensions text[] NOT NULL DEFAULT '{}',
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX projects_account_idx ON mosaic.projects (account_id, created_at);

CREATE TABLE mosaic.tickets (
    id         bigserial PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES mosaic.accounts(id) ON DELETE CASCADE,
    project_id uuid REFERENCES mosaic.projects(id) ON DELETE SET NULL,
    subject    text NOT NULL,
    message    text NOT NULL,
    status     text NOT NULL DEFAULT 'open',
    response   text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tickets_account_idx ON mosaic.tickets (account_id, id);

CREATE TABLE mosaic.settings (
    project_id uuid NOT NULL REFERENCES mosaic.projects(id) ON DELETE CASCADE,
    key        text NOT NULL,
    value      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, key)
);
