-- The platform's own identity: one row, made once. Deployments label their
-- containers and processes with it, so that a platform adopts or removes
-- only its own instances on a runtime (a Docker daemon) that others share.
CREATE TABLE mosaic.platform (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    id         uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO mosaic.platform (id) VALUES (gen_random_uuid());
